/**
 * The cgroup seam: what the runner needs from the kernel to put a process under limits. One
 * `CgroupDriver` per machine (v1, v2 or none, picked by detectCgroups at start), one `Cgroup` per
 * deployment. Real drivers write cgroupfs; FakeCgroupDriver keeps everything in memory.
 */

/** Which cgroup layout a driver speaks; "none" applies no limits at all. */
export type CgroupKind = "v1" | "v2" | "none";

/** The limits of one group. Every field is optional: an absent field means "no limit". */
export interface CgroupLimits {
  /** Hard memory limit in bytes (swap is not allowed on top of it where the kernel can say so). */
  readonly memoryBytes?: number;
  /** CFS bandwidth quota in cores; fractional values are fine (0.5 = half of one core). */
  readonly cpuQuotaCores?: number;
  /** Cores the group may run on (cpuset), for pinning; exclusive where the kernel allows it. */
  readonly cpus?: readonly number[];
  /** The most tasks (processes and threads) the group may hold. */
  readonly pidsMax?: number;
}

/** A snapshot of a group's resource use. */
export interface CgroupStats {
  /** Memory charged to the group now. */
  readonly memoryBytes: number;
  /** The most memory ever charged to it, where the kernel keeps that. */
  readonly memoryPeakBytes?: number;
  /** CPU time used by all its tasks, in nanoseconds, where the kernel keeps that. */
  readonly cpuUsageNanos?: number;
  /** How many tasks the kernel's OOM killer has killed in this group. */
  readonly oomKills: number;
  /** How many times the memory limit was hit (reclaim may have saved it), where known. */
  readonly limitHits?: number;
}

/** One group: a directory per controller hierarchy (v1), one directory (v2), or none at all. */
export interface Cgroup {
  /** The group's name under the driver's parent, e.g. a deployment id. */
  readonly name: string;
  /** Its directories; empty when nothing is on disk (none driver, fake). */
  readonly paths: readonly string[];
  /** The limits it was created with (for a group opened later, what could be read back). */
  readonly limits: CgroupLimits;
  /** Limits that could not be applied as asked, in words, for status and logs. */
  readonly warnings: readonly string[];
  /** Every process (thread group) now in the group (in any of its hierarchies). */
  pids(): Promise<number[]>;
  /** Whether `pid` is in the group in every hierarchy: fully confined (the wrapper has done its job). */
  holds(pid: number): Promise<boolean>;
  /** Its resource use now. */
  stats(): Promise<CgroupStats>;
  /** Sends `signal` to every process in the group, including ones that left its process group; returns how many. */
  killAll(signal: NodeJS.Signals): Promise<number>;
  /** Kills what is left, waits until the group is empty and removes it; safe to call twice. */
  destroy(): Promise<void>;
}

/** A command line to spawn instead of the original one. */
export interface WrappedCommand {
  readonly command: string;
  readonly args: string[];
}

/** Creates, finds and removes groups under one parent, and runs commands inside them. */
export interface CgroupDriver {
  /** The layout this driver writes. */
  readonly kind: CgroupKind;
  /** The parent group all of ours live under, e.g. "hive". */
  readonly parent: string;
  /** One line for status and logs, e.g. "cgroup v1: cpu, cpuset, memory, pids". */
  describe(): string;
  /** Creates group `name` under the parent with `limits`; an empty leftover of that name is replaced. */
  create(name: string, limits: CgroupLimits): Promise<Cgroup>;
  /** The existing group `name`, or undefined; used to re-adopt processes after a restart. */
  open(name: string): Promise<Cgroup | undefined>;
  /** Names of the groups under the parent now. */
  list(): Promise<string[]>;
  /** Removes the empty groups under the parent (left by an earlier run) and returns their names. */
  removeStale(): Promise<string[]>;
  /** A command line that enters `cgroup` and then execs `command` (see wrap-command.ts for why). */
  wrapCommand(cgroup: Cgroup, command: string, args: readonly string[]): WrappedCommand;
  /** Removes the parent group itself if it holds no groups (uninstall, tests). */
  removeParent(): Promise<void>;
}

/** Sends a signal to one pid; the real one is process.kill, tests of drivers swap it. */
export type SignalSender = (pid: number, signal: NodeJS.Signals) => void;
