/**
 * An in-memory CgroupDriver for tests of logic that uses cgroups (the supervisor, the runner's
 * status): it records every group with its limits, lets a test put pids in a group and set its
 * statistics (an OOM kill, say), and records the signals killAll would have sent. It never
 * touches the kernel and never signals a real process.
 */
import { ErrorCode, HiveError } from "../../../core/hive-error.ts";
import type {
  Cgroup,
  CgroupDriver,
  CgroupKind,
  CgroupLimits,
  CgroupStats,
  WrappedCommand,
} from "../cgroup.ts";
import { assertCgroupName, validateLimits } from "../limit-checks.ts";

/** A group of the fake driver; its state is open for tests to read and change. */
export class FakeCgroup implements Cgroup {
  readonly paths: readonly string[] = [];
  readonly warnings: string[] = [];
  /** The pids "in" the group; tests add and remove them. */
  readonly members = new Set<number>();
  /** Every killAll call, in order. */
  readonly signals: Array<{ signal: NodeJS.Signals; pids: number[] }> = [];
  /** What stats() returns; tests change it. */
  currentStats: CgroupStats = { memoryBytes: 0, oomKills: 0 };
  /** Whether destroy() ran. */
  destroyed = false;

  constructor(
    readonly name: string,
    readonly limits: CgroupLimits,
    private readonly onDestroy: (group: FakeCgroup) => void,
  ) {}

  pids(): Promise<number[]> {
    return Promise.resolve([...this.members].sort((a, b) => a - b));
  }

  holds(pid: number): Promise<boolean> {
    return Promise.resolve(this.members.has(pid));
  }

  stats(): Promise<CgroupStats> {
    return Promise.resolve(this.currentStats);
  }

  /** Records the signal; SIGKILL empties the group, as the kernel would. */
  killAll(signal: NodeJS.Signals): Promise<number> {
    const pids = [...this.members];
    this.signals.push({ signal, pids });
    if (signal === "SIGKILL") this.members.clear();
    return Promise.resolve(pids.length);
  }

  destroy(): Promise<void> {
    if (!this.destroyed) {
      this.members.clear();
      this.destroyed = true;
      this.onDestroy(this);
    }
    return Promise.resolve();
  }
}

/** The fake driver; `kind` is what it claims to be (default "v2"). */
export class FakeCgroupDriver implements CgroupDriver {
  readonly parent = "hive";
  /** Live groups by name. */
  readonly groups = new Map<string, FakeCgroup>();
  /** Every create call, in order, with its limits. */
  readonly created: Array<{ name: string; limits: CgroupLimits }> = [];
  /** Every wrapCommand call, in order. */
  readonly wrapped: Array<{ group: string; command: string; args: readonly string[] }> = [];

  constructor(readonly kind: CgroupKind = "v2") {}

  describe(): string {
    return `fake cgroup ${this.kind} driver (in memory, no limits applied)`;
  }

  create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    // The executor turns a thrown HiveError into a rejection, as the real drivers give.
    return new Promise((resolve) => {
      assertCgroupName(name);
      validateLimits(limits);
      const existing = this.groups.get(name);
      if (existing && existing.members.size > 0) {
        throw new HiveError(ErrorCode.AlreadyExists, `cgroup hive/${name} exists and still runs pids`);
      }
      const group = new FakeCgroup(name, limits, (g) => this.groups.delete(g.name));
      this.groups.set(name, group);
      this.created.push({ name, limits });
      resolve(group);
    });
  }

  open(name: string): Promise<Cgroup | undefined> {
    return Promise.resolve(this.groups.get(name));
  }

  list(): Promise<string[]> {
    return Promise.resolve([...this.groups.keys()].sort());
  }

  removeStale(): Promise<string[]> {
    const empty = [...this.groups.values()].filter((g) => g.members.size === 0).map((g) => g.name);
    for (const name of empty) this.groups.delete(name);
    return Promise.resolve(empty.sort());
  }

  /** Returns the command unchanged (nothing to enter) and records the call. */
  wrapCommand(cgroup: Cgroup, command: string, args: readonly string[]): WrappedCommand {
    this.wrapped.push({ group: cgroup.name, command, args });
    return { command, args: [...args] };
  }

  removeParent(): Promise<void> {
    if (this.groups.size > 0) {
      return Promise.reject(
        new HiveError(ErrorCode.FailedPrecondition, "the fake parent still holds groups"),
      );
    }
    return Promise.resolve();
  }
}
