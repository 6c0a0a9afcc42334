/**
 * The real ManagedProcess: the stop sequence, the kill, and the bookkeeping once the process has
 * ended. Whoever watches the process (a ChildProcess 'exit' event after spawn, a /proc poller
 * after adoption) calls observeExit() exactly when it is gone; everything else is here.
 *
 * Ordering rules:
 * - Descendants are listed from /proc BEFORE the first signal of a stop, while they are still
 *   children of the tree (after SIGTERM they may be orphaned and unfindable without a cgroup).
 * - `exited` resolves only after the leftovers (rest of the process group, rest of the cgroup,
 *   the snapshot) are killed, the log capper is closed and the exit marker is written, so a
 *   caller that awaits it may destroy the cgroup and read a complete log.
 * - The main process defines the deployment's lifetime: when it ends, on its own or not, what
 *   it left running in its process group or cgroup is killed, so nothing runs on unseen.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Cgroup } from "../cgroups/cgroup.ts";
import { classifyExit, type ExitCause, type ExitStatus } from "./exit-status.ts";
import { writeExitMarker } from "./log-files.ts";
import type { LogCapper } from "./log-rotation.ts";
import type { ManagedProcess, WarningSink } from "./managed-process.ts";
import { removeRecord } from "./process-record.ts";
import { isSameProcessAlive } from "./process-identity.ts";
import { isTerminal, type ProcessState } from "./process-state.ts";
import {
  listDescendants,
  listGroup,
  signalSnapshot,
  waitUntilGone,
  type ProcessIdentity,
} from "./process-tree.ts";

/** How long the end-of-life cleanup keeps killing a cgroup that will not empty. */
const DRAIN_MS = 2_000;

/** What a ProcessHandle needs to know. */
export interface ProcessHandleOptions {
  readonly deploymentId: string;
  readonly pid: number;
  readonly startedAt: Date;
  readonly adopted: boolean;
  readonly cgroup: Cgroup | undefined;
  /** The cgroup's OOM kill count before the process started. */
  readonly oomBaseline: number;
  readonly graceMs: number;
  /** Where the logs and the exit marker go. */
  readonly logDir: string;
  readonly capper: LogCapper | undefined;
  /** The state directory whose record is removed at the end, if any. */
  readonly stateDir: string | undefined;
  /** For a process that is not our child (adopted): its start time, checked before each signal. */
  readonly startTime?: string;
  readonly warn: WarningSink;
}

/** The real ManagedProcess (see the file comment). */
export class ProcessHandle implements ManagedProcess {
  readonly deploymentId: string;
  readonly pid: number;
  readonly startedAt: Date;
  readonly adopted: boolean;
  readonly cgroup: Cgroup | undefined;
  readonly exited: Promise<ExitStatus>;
  private current: ProcessState = "starting";
  private cause: ExitCause = "self";
  private graceUsed: number | undefined;
  private snapshot: readonly ProcessIdentity[] = [];
  private stopping: Promise<ExitStatus> | undefined;
  private observed = false;
  private resolveExited: (status: ExitStatus) => void = () => undefined;

  constructor(private readonly options: ProcessHandleOptions) {
    this.deploymentId = options.deploymentId;
    this.pid = options.pid;
    this.startedAt = options.startedAt;
    this.adopted = options.adopted;
    this.cgroup = options.cgroup;
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  get state(): ProcessState {
    return this.current;
  }

  /** starting → running, once the process is confirmed (in its cgroup, recorded). */
  markRunning(): void {
    if (this.current === "starting") this.current = "running";
  }

  /** The watcher saw the process end; `code` and `signal` are null when it could not tell. */
  observeExit(code: number | null, signal: string | null): void {
    if (this.observed) return;
    this.observed = true;
    const cause = this.adopted && this.cause === "self" ? "unobserved" : this.cause;
    this.finish(code, signal, cause).then(this.resolveExited, (error: unknown) => {
      this.options.warn(`cleanup after the exit of deployment ${this.deploymentId} failed`, error);
      this.current = "failed";
      this.resolveExited({
        code,
        signal,
        oomKilled: false,
        reason: `ended; cleanup failed: ${String(error)}`,
      });
    });
  }

  stop(graceMs: number = this.options.graceMs): Promise<ExitStatus> {
    if (isTerminal(this.current) || this.observed) return this.exited;
    this.stopping ??= this.runStop(graceMs);
    return this.stopping;
  }

  async kill(): Promise<ExitStatus> {
    if (isTerminal(this.current) || this.observed) return this.exited;
    if (this.cause !== "stop-escalated") this.cause = "kill";
    await this.killEverything();
    return this.exited;
  }

  private async runStop(graceMs: number): Promise<ExitStatus> {
    this.current = "stopping";
    this.cause = "stop";
    // A tree that cannot be listed (the process is gone) leaves only the group to signal.
    this.snapshot = await listDescendants(this.pid).catch(() => []);
    await this.signalGroup("SIGTERM");
    const timer = new AbortController();
    const ended = await Promise.race([
      this.exited.then(() => true),
      sleep(graceMs, false, { signal: timer.signal }).catch(() => false), // aborted: it ended first
    ]);
    timer.abort(); // clears the grace timer when the process ended first
    if (!ended && !this.observed) {
      this.cause = "stop-escalated";
      this.graceUsed = graceMs;
      await this.killEverything();
    }
    return this.exited;
  }

  /** SIGKILL to the process group, the cgroup and the stop's snapshot of descendants. */
  private async killEverything(): Promise<void> {
    await this.signalGroup("SIGKILL");
    await this.cgroup
      ?.killAll("SIGKILL")
      .catch((e: unknown) => this.options.warn("cgroup killAll failed", e));
    await signalSnapshot(this.snapshot, "SIGKILL");
  }

  /**
   * Signals the process group -pid, once (a second SIGTERM can land in a handler's clean-up, when
   * a runtime such as Python has already restored the default action, and kill it). The process
   * was spawned as a session leader, and a session leader cannot leave its process group, so
   * this always reaches it while it lives. While the leader, or any member, lives, no new process
   * can take that pid, so this never reaches a stranger. A process that is not our child may have
   * died unseen since the last poll, and its pid been reused: it is signalled only after /proc
   * confirms it is still the same process; once it has died, what is left of its group is
   * signalled one by one, each checked (without a cgroup, as with the none driver, nothing else
   * would find them).
   */
  private async signalGroup(signal: NodeJS.Signals): Promise<void> {
    const { startTime } = this.options;
    if (startTime !== undefined && !(await isSameProcessAlive(this.pid, startTime))) {
      const group = await listGroup(this.pid);
      // A live process with our leader's pid leads that group now: the pid could only be given
      // out again once our group was empty, so every member is a stranger's.
      if (group.some((p) => p.pid === this.pid)) return;
      await signalSnapshot(group, signal);
      return;
    }
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: nobody left in the group.
    }
  }

  /** The end-of-life bookkeeping (see the ordering rules in the file comment). */
  private async finish(code: number | null, signal: string | null, cause: ExitCause): Promise<ExitStatus> {
    const { cgroup, warn } = this.options;
    let oomKilled = false;
    if (cgroup && (signal === "SIGKILL" || cause === "unobserved")) {
      const stats = await cgroup.stats().catch((e: unknown) => warn("cannot read cgroup statistics", e));
      oomKilled = stats !== undefined && stats.oomKills > this.options.oomBaseline;
    }
    await this.signalGroup("SIGKILL");
    await signalSnapshot(this.snapshot, "SIGKILL");
    if (cgroup) await drain(cgroup, warn);
    if (!this.adopted || cgroup === undefined) {
      // Without a group (or a process not ours) this is the only way to know the tree is gone.
      const left = await waitUntilGone(this.pid, this.snapshot, DRAIN_MS);
      if (left.length > 0) warn(`deployment ${this.deploymentId}: pids ${left.join(",")} survived SIGKILL`);
    }
    await this.options.capper?.close();
    const { state, status } = classifyExit({
      code,
      signal,
      cause,
      oomKilled,
      ...(cgroup?.limits.memoryBytes === undefined ? {} : { memoryLimitBytes: cgroup.limits.memoryBytes }),
      ...(this.graceUsed === undefined ? {} : { graceMs: this.graceUsed }),
    });
    await writeExitMarker(this.options.logDir, this.deploymentId, status).catch((e: unknown) =>
      warn("cannot write the exit marker", e),
    );
    if (this.options.stateDir !== undefined) {
      await removeRecord(this.options.stateDir, this.deploymentId).catch((e: unknown) =>
        warn("cannot remove the process record", e),
      );
    }
    this.current = state;
    return status;
  }
}

/** Kills what is left in a cgroup until it is empty, for at most DRAIN_MS. */
async function drain(cgroup: Cgroup, warn: WarningSink): Promise<void> {
  const deadline = Date.now() + DRAIN_MS;
  try {
    while ((await cgroup.pids()).length > 0) {
      if (Date.now() > deadline) {
        warn(`cgroup ${cgroup.name} still holds processes ${DRAIN_MS} ms after its main process ended`);
        return;
      }
      await cgroup.killAll("SIGKILL");
      await sleep(10);
    }
  } catch (error) {
    warn(`cannot empty cgroup ${cgroup.name}`, error);
  }
}
