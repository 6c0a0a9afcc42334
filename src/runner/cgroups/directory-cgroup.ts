/**
 * What v1 and v2 groups share: they are directories with a cgroup.procs file each, so listing,
 * signalling and destroying work the same way; only the statistics files differ.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Cgroup, CgroupLimits, CgroupStats, SignalSender } from "./cgroup.ts";
import type { CgroupFs } from "./cgroup-fs.ts";
import { readPids, removeDirs } from "./cgroup-files.ts";
import { wrapInCgroup } from "./wrap-command.ts";

/** How long destroy() keeps killing before it gives up on a group that will not empty. */
const DRAIN_TIMEOUT_MS = 5_000;

/** Sends `signal` to each pid, ignoring the ones that are gone already; returns how many were signalled. */
export function signalEach(pids: readonly number[], signal: NodeJS.Signals, send: SignalSender): number {
  let sent = 0;
  for (const pid of pids) {
    try {
      send(pid, signal);
      sent++;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw HiveError.from(error);
    }
  }
  return sent;
}

/** What both directory drivers (v1 and v2) take besides where the hierarchy is mounted. */
export interface DirectoryDriverOptions {
  /** The parent group of all of ours; default "hive". */
  readonly parent?: string;
  /** The filesystem; default the real one. */
  readonly fs?: CgroupFs;
  /** How signals are sent; default process.kill. */
  readonly send?: SignalSender;
}

/** Refuses a leftover group `label` (parent/name) that still runs a process: it is not ours to remove. */
export async function assertNothingRuns(leftover: Cgroup, label: string): Promise<void> {
  const pids = await leftover.pids();
  if (pids.length > 0) {
    throw new HiveError(
      ErrorCode.AlreadyExists,
      `cgroup ${label} exists and still runs pids ${pids.join(",")}`,
    );
  }
}

/** A group made of directories on cgroupfs (v1: one per hierarchy, v2: one). */
export abstract class DirectoryCgroup implements Cgroup {
  private destroying: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly paths: readonly string[],
    readonly limits: CgroupLimits,
    readonly warnings: readonly string[],
    protected readonly fs: CgroupFs,
    protected readonly send: SignalSender,
  ) {}

  /** Resource use, read from the layout's own files. */
  abstract stats(): Promise<CgroupStats>;

  /** The union of every directory's cgroup.procs: a task is normally in all of them. */
  async pids(): Promise<number[]> {
    const lists = await Promise.all(this.paths.map((p) => readPids(this.fs, join(p, "cgroup.procs"))));
    return [...new Set(lists.flat())].sort((a, b) => a - b);
  }

  async holds(pid: number): Promise<boolean> {
    // The wrapper enters the hierarchies in the order of `paths`, so the last one is the last to
    // list a new pid: one read there rules out the common "not yet" while a spawn polls.
    const last = this.paths[this.paths.length - 1];
    if (last === undefined || !(await readPids(this.fs, join(last, "cgroup.procs"))).includes(pid))
      return false;
    const lists = await Promise.all(this.paths.map((p) => readPids(this.fs, join(p, "cgroup.procs"))));
    return lists.every((list) => list.includes(pid));
  }

  async killAll(signal: NodeJS.Signals): Promise<number> {
    return signalEach(await this.pids(), signal, this.send);
  }

  destroy(): Promise<void> {
    // A failed attempt is forgotten so that a later call tries again.
    this.destroying ??= this.drainAndRemove().catch((error: unknown) => {
      this.destroying = undefined;
      throw error;
    });
    return this.destroying;
  }

  /** SIGKILL until empty (a task may fork while we read the list), then rmdir every directory. */
  private async drainAndRemove(): Promise<void> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    for (;;) {
      const left = await this.pids();
      if (left.length === 0) break;
      if (Date.now() > deadline) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `cgroup ${this.name} still holds pids ${left.join(",")} after ${DRAIN_TIMEOUT_MS} ms of SIGKILL`,
        );
      }
      await this.killAll("SIGKILL");
      await sleep(10);
    }
    await removeDirs(this.fs, this.paths);
  }
}

/**
 * Removes the groups that hold no process (a previous run's leftovers) and returns their names;
 * a group that has sub-groups of its own, or filled up meanwhile, is left alone.
 */
export async function removeEmptyGroups(fs: CgroupFs, groups: readonly DirectoryCgroup[]): Promise<string[]> {
  const removed: string[] = [];
  for (const group of groups) {
    if ((await group.pids()).length > 0) continue;
    try {
      await removeDirs(fs, group.paths, 0);
      removed.push(group.name);
    } catch {
      // Not ours to judge: leave it.
    }
  }
  return removed;
}

/** The command that starts `command` inside this group (see wrap-command.ts). */
export function wrapInDirectoryCgroup(cgroup: DirectoryCgroup, command: string, args: readonly string[]) {
  return wrapInCgroup(
    cgroup.paths.map((p) => join(p, "cgroup.procs")),
    command,
    args,
    cgroup.name,
  );
}
