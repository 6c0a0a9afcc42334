/**
 * How a process ended, in fields for the restart policy and in one sentence for people. The
 * classification is pure: the supervisor gathers the facts (code, signal, OOM count, whether it
 * asked for the stop) and this decides the final state and the words.
 */
import { assertNever } from "../../core/assert-never.ts";
import { formatBytes } from "../../core/units.ts";
import type { ProcessState } from "./process-state.ts";

/** How a process ended. */
export interface ExitStatus {
  /** Its exit code, or null if a signal ended it or the code is unknown (adopted processes). */
  readonly code: number | null;
  /** The signal that ended it ("SIGKILL"), or null. */
  readonly signal: string | null;
  /** Whether the kernel's OOM killer ended it (its cgroup counted an OOM kill meanwhile). */
  readonly oomKilled: boolean;
  /** One sentence: "exited with code 3", "killed by SIGKILL (out of memory: limit 64 MiB)". */
  readonly reason: string;
}

/** What ended a process, as far as the supervisor knows. */
export type ExitCause =
  /** It ended on its own (or by a signal from someone else). */
  | "self"
  /** stop() was called and it ended within the grace period. */
  | "stop"
  /** stop() was called and it was SIGKILLed after the grace period. */
  | "stop-escalated"
  /** kill() was called. */
  | "kill"
  /** It was adopted after a runner restart: nobody could wait() for it, so the code is lost. */
  | "unobserved";

/** The facts about one exit. */
export interface ExitFacts {
  readonly code: number | null;
  readonly signal: string | null;
  readonly cause: ExitCause;
  /** Whether the cgroup's OOM kill count went up while the process ran. */
  readonly oomKilled: boolean;
  /** The memory limit, for the reason. */
  readonly memoryLimitBytes?: number;
  /** The grace period that ran out, for the reason. */
  readonly graceMs?: number;
}

/** The terminal state and the ExitStatus for an exit; OOM wins over everything else. */
export function classifyExit(facts: ExitFacts): { state: ProcessState; status: ExitStatus } {
  const { code, signal, oomKilled } = facts;
  const status = (state: ProcessState, reason: string) => ({
    state,
    status: { code, signal, oomKilled, reason },
  });
  const ended =
    signal !== null ? `killed by ${signal}` : code !== null ? `exited with code ${code}` : "exited";
  if (oomKilled) {
    const limit =
      facts.memoryLimitBytes === undefined ? "" : `: limit ${formatBytes(facts.memoryLimitBytes)}`;
    const what = signal !== null || code !== null ? ended : "killed";
    return status("failed", `${what} (out of memory${limit})`);
  }
  switch (facts.cause) {
    case "self":
      return status(code === 0 ? "exited" : "failed", ended);
    case "stop":
      return status("killed", `${ended} (stop requested)`);
    case "stop-escalated":
      return status(
        "killed",
        `${ended} (stop requested; still running after ${facts.graceMs ?? 0} ms grace)`,
      );
    case "kill":
      return status("killed", `${ended} (kill requested)`);
    case "unobserved":
      // Conservative: a process that vanished while no runner watched it counts as a failure,
      // so the restart policy brings it back (a backtest that had finished just runs again).
      return status(
        "failed",
        "exited while the runner was not watching (exit code unknown: adopted after a runner restart)",
      );
    default:
      return assertNever(facts.cause, "exit cause");
  }
}
