/**
 * The driver for machines where no cgroup layout is writable (an unprivileged container, a
 * read-only cgroupfs). Processes still run, but WITHOUT limits: no memory cap, no CPU quota, no
 * pinning, and no group to find escaped children in. It never pretends otherwise: describe()
 * says so, and every group it hands out carries that warning.
 */
import type { Cgroup, CgroupDriver, CgroupLimits, CgroupStats, WrappedCommand } from "./cgroup.ts";
import { assertCgroupName, parentSegments, validateLimits } from "./limit-checks.ts";

/** The warning every limit-less group carries. */
const NO_LIMITS = "no writable cgroups: this process runs WITHOUT memory, CPU or core limits";

/** A driver that applies nothing; `reasons` say why no real layout could be used. */
export class NoCgroupDriver implements CgroupDriver {
  readonly kind = "none";
  readonly parent: string;

  constructor(
    private readonly reasons: readonly string[] = [],
    parent = "hive",
  ) {
    this.parent = parentSegments(parent).join("/");
  }

  describe(): string {
    const why = this.reasons.length > 0 ? ` (${this.reasons.join("; ")})` : "";
    return `no writable cgroups: processes run WITHOUT limits (memory, CPU quota and core pinning are NOT enforced)${why}`;
  }

  create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    // The executor turns a validation error into a rejection, as the real drivers give.
    return new Promise((resolve) => {
      assertCgroupName(name);
      validateLimits(limits);
      resolve(new UnlimitedGroup(name, limits));
    });
  }

  open(name: string): Promise<Cgroup | undefined> {
    return new Promise((resolve) => {
      assertCgroupName(name);
      resolve(new UnlimitedGroup(name, {}));
    });
  }

  list(): Promise<string[]> {
    return Promise.resolve([]);
  }

  removeStale(): Promise<string[]> {
    return Promise.resolve([]);
  }

  wrapCommand(_cgroup: Cgroup, command: string, args: readonly string[]): WrappedCommand {
    return { command, args: [...args] };
  }

  removeParent(): Promise<void> {
    return Promise.resolve();
  }
}

/** A group in name only: it knows no pids, so killAll reaches nothing (process groups must do). */
class UnlimitedGroup implements Cgroup {
  readonly paths: readonly string[] = [];
  readonly warnings: readonly string[] = [NO_LIMITS];

  constructor(
    readonly name: string,
    readonly limits: CgroupLimits,
  ) {}

  pids(): Promise<number[]> {
    return Promise.resolve([]);
  }

  holds(): Promise<boolean> {
    return Promise.resolve(false);
  }

  stats(): Promise<CgroupStats> {
    return Promise.resolve({ memoryBytes: 0, oomKills: 0 });
  }

  killAll(): Promise<number> {
    return Promise.resolve(0);
  }

  destroy(): Promise<void> {
    return Promise.resolve();
  }
}
