/**
 * cgroup v1: one hierarchy per controller (or a few co-mounted, e.g. "cpu,cpuacct" behind
 * symbolic links), so a group is one directory in each hierarchy, all with the same name:
 * `<root>/<controller>/<parent>/<name>`. The memory and cpu hierarchies are required; cpuacct,
 * cpuset and pids are used when mounted.
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
  removeEmptyGroups,
  wrapInDirectoryCgroup,
} from "./directory-cgroup.ts";

/** The v1 controllers we use, in the order their directories are made. */
const CONTROLLERS = ["memory", "cpu", "cpuacct", "cpuset", "pids"] as const;

/** One of {@link CONTROLLERS}. */
type Controller = (typeof CONTROLLERS)[number];

/** Memory limits at or above this mean "unlimited" (the kernel's PAGE_COUNTER_MAX, page-rounded). */
const V1_UNLIMITED_BYTES = 2 ** 62;

/** One mounted hierarchy and the controllers it carries. */
interface Hierarchy {
  readonly mount: string;
  readonly controllers: readonly Controller[];
}

/** Options of {@link createCgroupV1Driver}. */
export interface CgroupV1Options extends DirectoryDriverOptions {
  /** Where the hierarchies are mounted; default /sys/fs/cgroup. */
  readonly root?: string;
}

/**
 * Finds the v1 hierarchies under `root` and makes our parent group in each (the probe: a root
 * that cannot create it cannot run anything). Throws FailedPrecondition if memory or cpu is
 * missing or not writable.
 */
export async function createCgroupV1Driver(options: CgroupV1Options = {}): Promise<CgroupDriver> {
  const root = options.root ?? "/sys/fs/cgroup";
  const fs = options.fs ?? nodeCgroupFs;
  const segments = parentSegments(options.parent ?? "hive");
  const byMount = new Map<string, Controller[]>();
  for (const controller of CONTROLLERS) {
    const link = join(root, controller);
    if (!(await fs.exists(join(link, "cgroup.procs")))) continue;
    const mount = await fs.realpath(link);
    byMount.set(mount, [...(byMount.get(mount) ?? []), controller]);
  }
  const hierarchies = [...byMount].map(([mount, controllers]) => ({ mount, controllers }));
  for (const required of ["memory", "cpu"] as const) {
    const h = hierarchies.find((x) => x.controllers.includes(required));
    if (!h)
      throw new HiveError(ErrorCode.FailedPrecondition, `no cgroup v1 ${required} hierarchy under ${root}`);
    if (!(await fs.isWritableDir(h.mount))) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `cgroup v1 ${required} hierarchy ${h.mount} is not writable`,
      );
    }
  }
  const driver = new CgroupV1Driver(hierarchies, segments, fs, options.send ?? process.kill.bind(process));
  await driver.ensureParent();
  return driver;
}

/** The v1 driver; made by {@link createCgroupV1Driver}. */
class CgroupV1Driver implements CgroupDriver {
  readonly kind = "v1";
  readonly parent: string;

  constructor(
    private readonly hierarchies: readonly Hierarchy[],
    private readonly segments: readonly string[],
    private readonly fs: CgroupFs,
    private readonly send: SignalSender,
  ) {
    this.parent = segments.join("/");
  }

  describe(): string {
    const names = this.hierarchies.flatMap((h) => h.controllers).sort();
    return `cgroup v1: ${names.join(", ")} (groups under "${this.parent}")`;
  }

  /** Creates the parent in every hierarchy; a new cpuset level gets its parent's cpus and mems. */
  async ensureParent(): Promise<void> {
    for (const h of this.hierarchies) {
      let dir = h.mount;
      for (const segment of this.segments) {
        const up = dir;
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
        if (h.controllers.includes("cpuset")) await this.inheritCpuset(up, dir);
      }
    }
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    assertCgroupName(name);
    validateLimits(limits);
    await this.ensureParent();
    await this.replaceLeftover(name);
    const created: string[] = [];
    const warnings: string[] = [];
    try {
      for (const h of this.hierarchies) {
        const dir = join(this.parentDir(h), name);
        await this.fs.mkdir(dir);
        created.push(dir);
      }
      await this.applyLimits(name, limits, warnings);
    } catch (error) {
      await removeDirs(this.fs, created.reverse());
      throw HiveError.from(error, ErrorCode.FailedPrecondition);
    }
    return this.group(name, limits, warnings);
  }

  async open(name: string): Promise<Cgroup | undefined> {
    assertCgroupName(name);
    const memory = this.dirOf("memory", name);
    if (!(await this.fs.exists(memory))) return undefined;
    const limitText = await readOptional(this.fs, join(memory, "memory.limit_in_bytes"));
    const limit = Number(limitText);
    const limits = limitText !== undefined && limit < V1_UNLIMITED_BYTES ? { memoryBytes: limit } : {};
    return this.group(name, limits, []);
  }

  async list(): Promise<string[]> {
    const names = new Set<string>();
    for (const h of this.hierarchies) {
      try {
        for (const n of await this.fs.subdirs(this.parentDir(h))) names.add(n);
      } catch (error) {
        if (errorCode(error) !== "ENOENT") throw HiveError.from(error, ErrorCode.FailedPrecondition);
      }
    }
    return [...names].sort();
  }

  async removeStale(): Promise<string[]> {
    return removeEmptyGroups(
      this.fs,
      (await this.list()).map((name) => this.group(name, {}, [])),
    );
  }

  wrapCommand(cgroup: Cgroup, command: string, args: readonly string[]): WrappedCommand {
    if (!(cgroup instanceof V1Cgroup)) {
      throw new HiveError(ErrorCode.Internal, `cgroup ${cgroup.name} was not made by the cgroup v1 driver`);
    }
    return wrapInDirectoryCgroup(cgroup, command, args);
  }

  async removeParent(): Promise<void> {
    await removeDirs(
      this.fs,
      this.hierarchies.map((h) => this.parentDir(h)),
      0,
    );
  }

  /** Writes every asked limit; `warnings` collects what could only be approximated. */
  private async applyLimits(name: string, limits: CgroupLimits, warnings: string[]): Promise<void> {
    const memory = this.dirOf("memory", name);
    if (limits.memoryBytes !== undefined) {
      const bytes = String(limits.memoryBytes);
      await writeControl(this.fs, join(memory, "memory.limit_in_bytes"), bytes);
      // memsw is memory + swap: the same value means no swap at all, so a process over its
      // limit is killed instead of slowly swapping (the order matters: memsw >= limit).
      const memsw = join(memory, "memory.memsw.limit_in_bytes");
      if (await this.fs.exists(memsw)) await writeControl(this.fs, memsw, bytes);
      else {
        warnings.push("swap accounting is off (no memory.memsw): the group may swap beyond its memory limit");
        // Best effort: the warning above already says the group may swap.
        await writeControl(this.fs, join(memory, "memory.swappiness"), "0").catch(() => undefined);
      }
    }
    if (limits.cpuQuotaCores !== undefined) {
      const cpu = this.dirOf("cpu", name);
      await writeControl(this.fs, join(cpu, "cpu.cfs_period_us"), String(CFS_PERIOD_US));
      await writeControl(
        this.fs,
        join(cpu, "cpu.cfs_quota_us"),
        String(cfsQuotaMicros(limits.cpuQuotaCores)),
      );
    }
    const cpuset = this.hierarchyOf("cpuset");
    if (cpuset) await this.applyCpuset(cpuset, name, limits.cpus, warnings);
    else if (limits.cpus) this.missing("cpuset", "pin cores");
    const pids = this.hierarchyOf("pids");
    if (limits.pidsMax !== undefined) {
      if (!pids) this.missing("pids", "limit the number of tasks");
      await writeControl(this.fs, join(this.parentDir(pids), name, "pids.max"), String(limits.pidsMax));
    }
  }

  /**
   * A v1 cpuset accepts no task until cpus and mems are set, so every group gets them: the asked
   * cores, or all of the parent's. cpu_exclusive (no sibling may share the cores) is set only if
   * the kernel agrees, which needs an exclusive parent; the runner never gives one core to two
   * live services anyway, so a refusal is a warning, not an error. We do not make our parent
   * exclusive ourselves: that would forbid every other top-level cpuset on the machine from
   * using those cores.
   */
  private async applyCpuset(
    h: Hierarchy,
    name: string,
    cpus: readonly number[] | undefined,
    warnings: string[],
  ): Promise<void> {
    const parent = this.parentDir(h);
    const dir = join(parent, name);
    const allowedText = await readControl(this.fs, join(parent, "cpuset.cpus"));
    if (cpus) assertCpusAllowed(cpus, mustParseCpuList(allowedText), `cgroup ${parent}`);
    await writeControl(this.fs, join(dir, "cpuset.cpus"), cpus ? formatCpuList(cpus) : allowedText);
    await writeControl(
      this.fs,
      join(dir, "cpuset.mems"),
      await readControl(this.fs, join(parent, "cpuset.mems")),
    );
    if (!cpus) return;
    try {
      await this.fs.write(join(dir, "cpuset.cpu_exclusive"), "1");
    } catch (error) {
      warnings.push(
        `cores ${formatCpuList(cpus)} pinned but not exclusive: cpuset.cpu_exclusive refused (${errorCode(error)}; the parent ${parent} is not exclusive)`,
      );
    }
  }

  /** Copies cpus and mems from `up` into a new cpuset level that has none yet. */
  private async inheritCpuset(up: string, dir: string): Promise<void> {
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      if ((await readControl(this.fs, join(dir, file))) !== "") continue;
      await writeControl(this.fs, join(dir, file), await readControl(this.fs, join(up, file)));
    }
  }

  /** Removes an empty leftover of the same name; refuses one that still runs something. */
  private async replaceLeftover(name: string): Promise<void> {
    const leftover = this.group(name, {}, []);
    const present = await Promise.all(leftover.paths.map((p) => this.fs.exists(p)));
    if (!present.includes(true)) return;
    await assertNothingRuns(leftover, `${this.parent}/${name}`);
    await removeDirs(this.fs, leftover.paths);
  }

  private group(name: string, limits: CgroupLimits, warnings: string[]): V1Cgroup {
    const paths = this.hierarchies.map((h) => join(this.parentDir(h), name));
    return new V1Cgroup(name, paths, limits, warnings, this.fs, this.send, {
      memory: this.dirOf("memory", name),
      cpuacct: this.hierarchyOf("cpuacct") ? this.dirOf("cpuacct", name) : undefined,
    });
  }

  private missing(controller: string, what: string): never {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `cannot ${what}: no cgroup v1 ${controller} hierarchy is mounted (${this.describe()})`,
    );
  }

  private hierarchyOf(controller: Controller): Hierarchy | undefined {
    return this.hierarchies.find((h) => h.controllers.includes(controller));
  }

  private dirOf(controller: "memory" | "cpu" | "cpuacct", name: string): string {
    const h = this.hierarchyOf(controller);
    if (!h) throw new HiveError(ErrorCode.Internal, `no ${controller} hierarchy`);
    return join(this.parentDir(h), name);
  }

  private parentDir(h: Hierarchy): string {
    return join(h.mount, ...this.segments);
  }
}

/** A v1 group: statistics come from the memory and cpuacct hierarchies. */
class V1Cgroup extends DirectoryCgroup {
  constructor(
    name: string,
    paths: readonly string[],
    limits: CgroupLimits,
    warnings: readonly string[],
    fs: CgroupFs,
    send: SignalSender,
    private readonly dirs: { readonly memory: string; readonly cpuacct: string | undefined },
  ) {
    super(name, paths, limits, warnings, fs, send);
  }

  async stats(): Promise<CgroupStats> {
    const { memory, cpuacct } = this.dirs;
    const [usage, peak, oom, failcnt, cpu] = await Promise.all([
      readControl(this.fs, join(memory, "memory.usage_in_bytes")),
      readOptional(this.fs, join(memory, "memory.max_usage_in_bytes")),
      readOptional(this.fs, join(memory, "memory.oom_control")),
      readOptional(this.fs, join(memory, "memory.failcnt")),
      cpuacct ? readOptional(this.fs, join(cpuacct, "cpuacct.usage")) : undefined,
    ]);
    const limitHits = failcnt === undefined ? undefined : Number(failcnt);
    // oom_kill in memory.oom_control exists since Linux 4.13; before that the best sign is
    // that the limit was hit at all, which over-reports (reclaim may have succeeded).
    const oomKill = oom === undefined ? undefined : parseKeyValues(oom).get("oom_kill");
    return {
      memoryBytes: Number(usage),
      ...(peak === undefined ? {} : { memoryPeakBytes: Number(peak) }),
      ...(cpu === undefined ? {} : { cpuUsageNanos: Number(cpu) }),
      oomKills: oomKill ?? (limitHits !== undefined && limitHits > 0 ? 1 : 0),
      ...(limitHits === undefined ? {} : { limitHits }),
    };
  }
}
