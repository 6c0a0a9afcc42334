/**
 * The restart policy (pure): whether an ended deployment is started again, after how long, and
 * when it is given up. The orchestrator records the exit (deployment-lifecycle.ts) and applies
 * what {@link afterExit} decides.
 */
import type { RestartPolicy } from "../domain/index.ts";
import type { DeploymentRecord } from "./store/store-records.ts";

/**
 * The wait before restart number `restarts` (0-based): exponential from the policy's initial,
 * capped at its maximum, with "equal jitter" (half fixed, half random), so that the services of a
 * lost node do not all come back in the same instant, yet never faster than half the backoff.
 */
export function restartDelayMs(policy: RestartPolicy, restarts: number, random = Math.random): number {
  const cap = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.max(0, restarts));
  return Math.floor(cap / 2 + (cap / 2) * random());
}

/** A run this long counts as stable: the next failure starts the backoff and the count afresh. */
export function stableAfterMs(policy: RestartPolicy): number {
  return Math.max(10_000, policy.maxBackoffMs);
}

/** Whether an exit calls for a restart under the policy (before counting restarts). */
export function wantsRestart(policy: RestartPolicy, exitCode: number | null): boolean {
  switch (policy.policy) {
    case "always":
      return true;
    case "on-failure":
      return exitCode !== 0;
    case "never":
      return false;
  }
}

/** What to do after a deployment ended. */
export interface ExitDecision {
  /**
   * Its restart count before this exit is counted: 0 after a long, stable run (maxRestarts bounds
   * crash loops, not a lifetime), else as it was.
   */
  readonly restarts: number;
  /** The change to its record besides its last exit (restarts, pending reason). */
  readonly change: Partial<Pick<DeploymentRecord, "restarts" | "pendingReason">>;
  /** The wait before it is started again; undefined when it is not restarted. */
  readonly delayMs: number | undefined;
}

/** What ended, for {@link afterExit}. */
export interface EndedRun {
  /** Restarts counted so far. */
  readonly restarts: number;
  /** How long it had been running (ms), or undefined if it was never seen running. */
  readonly ranForMs: number | undefined;
  /** Whether it is still wanted running. */
  readonly wanted: boolean;
  readonly exitCode: number | null;
}

/**
 * The restart policy's answer to an exit: not wanted any more (nothing to do), done (a clean exit
 * the policy does not restart), given up (the policy never restarts, or `maxRestarts` is reached:
 * it stays listed with its exit and the reason), or a restart after a backoff.
 */
export function afterExit(policy: RestartPolicy, run: EndedRun, random = Math.random): ExitDecision {
  const restarts =
    run.ranForMs !== undefined && run.ranForMs >= stableAfterMs(policy) && run.restarts > 0
      ? 0
      : run.restarts;
  if (!run.wanted) return { restarts, change: {}, delayMs: undefined };
  if (!wantsRestart(policy, run.exitCode)) {
    return {
      restarts,
      change: { pendingReason: run.exitCode === 0 ? undefined : "gave up: restart policy never" },
      delayMs: undefined,
    };
  }
  if (restarts >= policy.maxRestarts) {
    return { restarts, change: { pendingReason: `gave up after ${restarts} restarts` }, delayMs: undefined };
  }
  return { restarts, change: { restarts: restarts + 1 }, delayMs: restartDelayMs(policy, restarts, random) };
}
