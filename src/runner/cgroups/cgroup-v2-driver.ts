/**
 * cgroup v2: one unified tree, so a group is one directory `<mount>/<parent>/<name>`. A
 * controller works in a group only if every ancestor lists it in cgroup.subtree_control, and
 * (the "no internal processes" rule) a group that hands controllers to children may hold no
 * processes itself: our parent only holds groups, each group only processes.
 */
import { join } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type {
  Cgroup,
  CgroupDriver,
  CgroupLimits,
  CgroupStats,
  SignalSender,
  WrappedCommand,
} from "./cgroup.ts";
import { errorCode, nodeCgroupFs, type CgroupFs } from "./cgroup-fs.ts";
import { parseKeyValues, readControl, readOptional, removeDirs, writeControl } from "./cgroup-files.ts";
import {
  assertCgroupName,
  assertCpusAllowed,
  CFS_PERIOD_US,
  cfsQuotaMicros,
  formatCpuList,
  parentSegments,
  mustParseCpuList,
  validateLimits,
} from "./limit-checks.ts";
import {
  assertNothingRuns,
  DirectoryCgroup,
  type DirectoryDriverOptions,
  signalEach,
  removeEmptyGroups,
  wrapInDirectoryCgroup,
} from "./directory-cgroup.ts";

/** Controllers we cannot do without. */
const REQUIRED = ["memory", "cpu"] as const;

/** Controllers we use when the kernel offers them. */
const OPTIONAL = ["cpuset", "pids"] as const;

/** Options of {@link createCgroupV2Driver}. */
export interface CgroupV2Options extends DirectoryDriverOptions {
  /** Where the unified hierarchy is mounted; default /sys/fs/cgroup. */
  readonly mount?: string;
}

/**
 * Checks that `mount` offers memory and cpu, then makes our parent and enables the controllers
 * down to it (the probe). Throws FailedPrecondition with the kernel's answer otherwise.
 */
export async function createCgroupV2Driver(options: CgroupV2Options = {}): Promise<CgroupDriver> {
  const mount = options.mount ?? "/sys/fs/cgroup";
  const fs = options.fs ?? nodeCgroupFs;
  const offered = words(await readControl(fs, join(mount, "cgroup.controllers")));
  const missing = REQUIRED.filter((c) => !offered.includes(c));
  if (missing.length > 0) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `cgroup v2 at ${mount} does not offer ${missing.join(", ")} (cgroup.controllers: "${offered.join(" ")}")`,
    );
  }
  if (!(await fs.isWritableDir(mount))) {
    throw new HiveError(ErrorCode.FailedPrecondition, `cgroup v2 at ${mount} is not writable`);
  }
  const wanted = [...REQUIRED, ...OPTIONAL.filter((c) => offered.includes(c))];
  const driver = new CgroupV2Driver(
    mount,
    parentSegments(options.parent ?? "hive"),
    wanted,
    fs,
    options.send,
  );
  await driver.ensureParent();
  return driver;
}

/** The v2 driver; made by {@link createCgroupV2Driver}. */
class CgroupV2Driver implements CgroupDriver {
  readonly kind = "v2";
  readonly parent: string;
  private readonly parentDir: string;

  constructor(
    private readonly mount: string,
    private readonly segments: readonly string[],
    private readonly controllers: readonly string[],
    private readonly fs: CgroupFs,
    private readonly send: SignalSender = process.kill.bind(process),
  ) {
    this.parent = segments.join("/");
    this.parentDir = join(mount, ...segments);
  }

  describe(): string {
    return `cgroup v2: ${[...this.controllers].sort().join(", ")} (groups under "${this.parent}")`;
  }

  /** Creates each level of the parent and enables our controllers on the way down, parent included. */
  async ensureParent(): Promise<void> {
    let dir = this.mount;
    for (const segment of this.segments) {
      await this.enableControllers(dir);
      dir = join(dir, segment);
      try {
        await this.fs.mkdir(dir);
      } catch (error) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `cannot create cgroup ${dir}: ${errorCode(error)}`,
          {
            cause: error,
          },
        );
      }
    }
    await this.enableControllers(dir);
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    assertCgroupName(name);
    validateLimits(limits);
    await this.ensureParent();
    const dir = join(this.parentDir, name);
    await this.replaceLeftover(name, dir);
    const warnings: string[] = [];
    try {
      await this.fs.mkdir(dir);
      await this.applyLimits(dir, limits, warnings);
    } catch (error) {
      await removeDirs(this.fs, [dir]);
      throw HiveError.from(error, ErrorCode.FailedPrecondition);
    }
    return new V2Cgroup(name, [dir], limits, warnings, this.fs, this.send);
  }

  async open(name: string): Promise<Cgroup | undefined> {
    assertCgroupName(name);
    const dir = join(this.parentDir, name);
    if (!(await this.fs.exists(dir))) return undefined;
    const max = await readOptional(this.fs, join(dir, "memory.max"));
    const limits = max !== undefined && /^\d+$/.test(max) ? { memoryBytes: Number(max) } : {};
    return new V2Cgroup(name, [dir], limits, [], this.fs, this.send);
  }

  async list(): Promise<string[]> {
    try {
      return (await this.fs.subdirs(this.parentDir)).sort();
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw HiveError.from(error, ErrorCode.FailedPrecondition);
    }
  }

  async removeStale(): Promise<string[]> {
    return removeEmptyGroups(
      this.fs,
      (await this.list()).map(
        (name) => new V2Cgroup(name, [join(this.parentDir, name)], {}, [], this.fs, this.send),
      ),
    );
  }

  wrapCommand(cgroup: Cgroup, command: string, args: readonly string[]): WrappedCommand {
    if (!(cgroup instanceof V2Cgroup)) {
      throw new HiveError(ErrorCode.Internal, `cgroup ${cgroup.name} was not made by the cgroup v2 driver`);
    }
    return wrapInDirectoryCgroup(cgroup, command, args);
  }

  async removeParent(): Promise<void> {
    await removeDirs(this.fs, [this.parentDir], 0);
  }

  private async applyLimits(dir: string, limits: CgroupLimits, warnings: string[]): Promise<void> {
    if (limits.memoryBytes !== undefined) {
      await writeControl(this.fs, join(dir, "memory.max"), String(limits.memoryBytes));
      // No swap on top of the limit: over it, the process is killed rather than slowed to a crawl.
      const swap = join(dir, "memory.swap.max");
      if (await this.fs.exists(swap)) await writeControl(this.fs, swap, "0");
      // An OOM kill takes the whole group: a service with one of its processes gone is broken anyway.
      const group = join(dir, "memory.oom.group");
      if (await this.fs.exists(group)) await writeControl(this.fs, group, "1");
    }
    if (limits.cpuQuotaCores !== undefined) {
      await writeControl(
        this.fs,
        join(dir, "cpu.max"),
        `${cfsQuotaMicros(limits.cpuQuotaCores)} ${CFS_PERIOD_US}`,
      );
    }
    if (limits.cpus) await this.applyCpus(dir, limits.cpus, warnings);
    if (limits.pidsMax !== undefined) {
      this.require("pids", "limit the number of tasks");
      await writeControl(this.fs, join(dir, "pids.max"), String(limits.pidsMax));
    }
  }

  /**
   * Pins to `cpus`, then tries to make them exclusive by turning the group into a partition root
   * (cpuset.cpus.exclusive, Linux 6.7+, then cpuset.cpus.partition). The kernel may accept the
   * write yet report "root invalid (...)"; then we go back to "member" and say so.
   */
  private async applyCpus(dir: string, cpus: readonly number[], warnings: string[]): Promise<void> {
    this.require("cpuset", "pin cores");
    const allowed = await readControl(this.fs, join(this.parentDir, "cpuset.cpus.effective"));
    assertCpusAllowed(cpus, mustParseCpuList(allowed), `cgroup ${this.parentDir}`);
    const list = formatCpuList(cpus);
    await writeControl(this.fs, join(dir, "cpuset.cpus"), list);
    const partition = join(dir, "cpuset.cpus.partition");
    let outcome: string;
    try {
      const exclusive = join(dir, "cpuset.cpus.exclusive");
      if (await this.fs.exists(exclusive)) await this.fs.write(exclusive, list);
      await this.fs.write(partition, "root");
      outcome = (await readOptional(this.fs, partition)) ?? "root";
    } catch (error) {
      outcome = errorCode(error) ?? String(error);
    }
    if (outcome === "root") return;
    // Best effort: the warning below says the cores are not exclusive either way.
    await this.fs.write(partition, "member").catch(() => undefined);
    warnings.push(`cores ${list} pinned but not exclusive: the kernel refused a partition root (${outcome})`);
  }

  /** Enables our controllers for the children of `dir`, one write each so one refusal is clear. */
  private async enableControllers(dir: string): Promise<void> {
    const enabled = words(await readControl(this.fs, join(dir, "cgroup.subtree_control")));
    for (const controller of this.controllers.filter((c) => !enabled.includes(c))) {
      try {
        await this.fs.write(join(dir, "cgroup.subtree_control"), `+${controller}`);
      } catch (error) {
        const code = errorCode(error);
        const hint =
          code === "EBUSY"
            ? " (the group holds processes itself; cgroup v2 allows controllers only for groups without any)"
            : "";
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `cannot enable the ${controller} controller in ${dir}/cgroup.subtree_control: ${code}${hint}`,
          { cause: error },
        );
      }
    }
  }

  private require(controller: string, what: string): void {
    if (!this.controllers.includes(controller)) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `cannot ${what}: cgroup v2 at ${this.mount} has no ${controller}`,
      );
    }
  }

  private async replaceLeftover(name: string, dir: string): Promise<void> {
    if (!(await this.fs.exists(dir))) return;
    const leftover = new V2Cgroup(name, [dir], {}, [], this.fs, this.send);
    await assertNothingRuns(leftover, `${this.parent}/${name}`);
    await removeDirs(this.fs, [dir]);
  }
}

/** A v2 group: one directory, statistics from memory.* and cpu.stat, and cgroup.kill when there. */
class V2Cgroup extends DirectoryCgroup {
  async stats(): Promise<CgroupStats> {
    const dir = this.paths[0] ?? "";
    const [current, peak, events, cpu] = await Promise.all([
      readControl(this.fs, join(dir, "memory.current")),
      readOptional(this.fs, join(dir, "memory.peak")),
      readOptional(this.fs, join(dir, "memory.events")),
      readOptional(this.fs, join(dir, "cpu.stat")),
    ]);
    const ev = parseKeyValues(events ?? "");
    const usec = parseKeyValues(cpu ?? "").get("usage_usec");
    return {
      memoryBytes: Number(current),
      ...(peak === undefined ? {} : { memoryPeakBytes: Number(peak) }),
      ...(usec === undefined ? {} : { cpuUsageNanos: usec * 1000 }),
      oomKills: ev.get("oom_kill") ?? 0,
      ...(ev.has("max") ? { limitHits: ev.get("max") } : {}),
    };
  }

  /** SIGKILL goes through cgroup.kill (Linux 5.14+), which the kernel applies atomically, forks included. */
  override async killAll(signal: NodeJS.Signals): Promise<number> {
    const pids = await this.pids();
    const killFile = join(this.paths[0] ?? "", "cgroup.kill");
    if (signal === "SIGKILL" && (await this.fs.exists(killFile))) {
      await writeControl(this.fs, killFile, "1");
      return pids.length;
    }
    return signalEach(pids, signal, this.send);
  }
}

/** The space-separated words of a control file. */
function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
}
