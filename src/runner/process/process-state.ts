/**
 * The lifecycle of one managed process.
 *
 *   starting ──▶ running ──────────────────────────▶ exited   (code 0, on its own)
 *      │            │  └──────────────────────────▶ failed   (non-zero code, a signal we did
 *      │            │                                         not send, OOM, or unknown)
 *      │            └──▶ stopping ──(TERM, grace, KILL)──▶ killed (ended because we asked)
 *      └──▶ failed (could not be started)
 *
 * The three on the right are terminal. `stop()` or `kill()` on a terminal process does nothing.
 */
import { assertNever } from "../../core/assert-never.ts";

/** Where a managed process is in its life. */
export type ProcessState =
  /** Spawn requested; the kernel has not confirmed a pid (and its cgroup) yet. */
  | "starting"
  /** Alive and supervised. */
  | "running"
  /** stop() was called: SIGTERM sent, SIGKILL follows after the grace period. */
  | "stopping"
  /** Ended on its own with exit code 0. */
  | "exited"
  /** Never started, or ended on its own with a non-zero code or a signal (OOM included). */
  | "failed"
  /** Ended because the runner stopped or killed it. */
  | "killed";

/** Whether the process has ended (one of exited, failed, killed). */
export function isTerminal(state: ProcessState): boolean {
  switch (state) {
    case "starting":
    case "running":
    case "stopping":
      return false;
    case "exited":
    case "failed":
    case "killed":
      return true;
    default:
      return assertNever(state, "process state");
  }
}
