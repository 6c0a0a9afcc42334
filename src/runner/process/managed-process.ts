/**
 * The handle of one supervised process, the same whether the runner spawned it or adopted it
 * after a restart; the real one is ProcessHandle, the fake is in fake-process-launcher.ts.
 */
import { inspect } from "node:util";
import type { Cgroup } from "../cgroups/cgroup.ts";
import type { ExitStatus } from "./exit-status.ts";
import type { ProcessState } from "./process-state.ts";

/** A supervised process. */
export interface ManagedProcess {
  /** The deployment it runs. */
  readonly deploymentId: string;
  /** Its pid; it leads its own process group (and session), so -pid reaches the group. */
  readonly pid: number;
  /** Where it is in its life (see process-state.ts). */
  readonly state: ProcessState;
  /** When it was started (for an adopted process, as recorded at spawn). */
  readonly startedAt: Date;
  /** Whether this runner adopted it from an earlier one (its exit code will be unknown). */
  readonly adopted: boolean;
  /** Its cgroup, if it has one. The caller owns it: destroy it after `exited`. */
  readonly cgroup: Cgroup | undefined;
  /** Resolves once it has ended and everything it left behind in its group is gone; never rejects. */
  readonly exited: Promise<ExitStatus>;
  /**
   * SIGTERM to its process group; after `graceMs` (default: the spec's), SIGKILL to the group,
   * to every pid in its cgroup and to every descendant seen at the start of the stop. Resolves
   * with `exited`. Calling it again, or after the end, returns the same outcome.
   */
  stop(graceMs?: number): Promise<ExitStatus>;
  /** SIGKILL to everything at once (as stop() after its grace); resolves with `exited`. */
  kill(): Promise<ExitStatus>;
}

/** Where the supervisor reports what went wrong but must not stop it (a failed log rotation, say). */
export type WarningSink = (message: string, cause?: unknown) => void;

/** The default sink: one line on stderr. The runner passes its structured logger instead. */
export const stderrWarnings: WarningSink = (message, cause) => {
  const detail = cause === undefined ? "" : `: ${cause instanceof Error ? cause.message : inspect(cause)}`;
  process.stderr.write(`hive process supervisor: ${message}${detail}\n`);
};
