/**
 * The limits our own cgroup puts on us: a cpuset, a CPU quota and a memory limit, from cgroup v1
 * or v2 (both layouts are found in the wild, and hybrid machines mount both). Pure parsers of
 * /proc/self/cgroup and /proc/self/mountinfo, and a reader that walks from our cgroup up to the
 * mount's root, because a limit set on an ancestor binds us as much as our own.
 */
import { posix } from "node:path";
import type { HostFiles } from "./host-files.ts";

/** One line of /proc/<pid>/cgroup. */
export interface CgroupMembership {
  /** The hierarchy id; 0 is the unified (v2) hierarchy. */
  readonly hierarchy: number;
  /** Controllers bound to the hierarchy (empty for v2). */
  readonly controllers: readonly string[];
  /** Our cgroup's path inside the hierarchy, e.g. "/system.slice/hive.service". */
  readonly path: string;
}

/** A cgroup filesystem mount from /proc/<pid>/mountinfo. */
export interface CgroupMount {
  readonly version: 1 | 2;
  /** Where it is mounted, e.g. "/sys/fs/cgroup/memory". */
  readonly mountPoint: string;
  /** Which cgroup of the hierarchy is the mount's root (not "/" inside some containers). */
  readonly root: string;
  /** For v1, the controllers of the hierarchy (from the super options). */
  readonly controllers: readonly string[];
}

/** What our cgroups allow us, where they say anything; undefined fields are unlimited. */
export interface OwnCgroupLimits {
  /** The CPUs of our cpuset. */
  readonly cpus?: readonly number[];
  /** The CPU quota in cores (quota / period), the tightest along our ancestry. */
  readonly cpuQuotaCores?: number;
  /** The memory limit in bytes, the tightest along our ancestry. */
  readonly memoryBytes?: number;
}

/** Parses /proc/<pid>/cgroup ("hierarchy:controllers:path" lines). */
export function parseProcCgroup(text: string): CgroupMembership[] {
  const out: CgroupMembership[] = [];
  for (const line of text.split("\n")) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const controllers = (match[2] ?? "").split(",").filter((c) => c !== "");
    out.push({ hierarchy: Number(match[1]), controllers, path: match[3] ?? "/" });
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses the cgroup and cgroup2 mounts out of /proc/<pid>/mountinfo. */
export function parseCgroupMounts(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    const dash = line.indexOf(" - ");
    if (dash < 0) continue;
    const before = line.slice(0, dash).split(" ");
    const after = line.slice(dash + 3).split(" ");
    const fsType = after[0];
    if (fsType !== "cgroup" && fsType !== "cgroup2") continue;
    const root = before[3];
    const mountPoint = before[4];
    if (root === undefined || mountPoint === undefined) continue;
    const superOptions = (after[2] ?? "").split(",");
    out.push({
      version: fsType === "cgroup2" ? 2 : 1,
      mountPoint: unescapeMountPath(mountPoint),
      root: unescapeMountPath(root),
      controllers: fsType === "cgroup2" ? [] : superOptions,
    });
  }
  return out;
}

/** Parses a Linux CPU list such as "0-3,8,10-11" into sorted CPU numbers; undefined if malformed. */
export function parseCpuList(text: string): number[] | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  const cpus = new Set<number>();
  for (const part of trimmed.split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!match) return undefined;
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) return undefined;
    for (let cpu = from; cpu <= to; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

/**
 * The directories of our cgroup for one v1 controller, or for the v2 hierarchy (controller
 * undefined), from our own up to the mount point: the order in which limits are inherited.
 */
export function cgroupDirs(
  memberships: readonly CgroupMembership[],
  mounts: readonly CgroupMount[],
  controller: string | undefined,
): string[] {
  const membership =
    controller === undefined
      ? memberships.find((m) => m.hierarchy === 0)
      : memberships.find((m) => m.controllers.includes(controller));
  const mount =
    controller === undefined
      ? mounts.find((m) => m.version === 2)
      : mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
  if (membership === undefined || mount === undefined) return [];
  // Inside a cgroup namespace our path is relative to the mount's root already; outside one, the
  // mount may show a sub-tree and our path starts with its root.
  let relative = membership.path;
  if (mount.root !== "/" && (relative === mount.root || relative.startsWith(`${mount.root}/`))) {
    relative = relative.slice(mount.root.length);
  }
  const top = trimSlash(mount.mountPoint);
  let dir = trimSlash(posix.join(top, relative));
  if (dir !== top && !dir.startsWith(`${top}/`)) return [top];
  const dirs = [dir];
  while (dir !== top) {
    dir = posix.dirname(dir);
    dirs.push(dir);
  }
  return dirs;
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

// A v1 memory limit is "unlimited" as PAGE_COUNTER_MAX pages, about 2^63 bytes.
const UNLIMITED_BYTES = 2 ** 62;

function readNumber(files: HostFiles, path: string): number | undefined {
  const text = files.readText(path)?.trim();
  if (text === undefined || text === "" || text === "max") return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

function minDefined(values: readonly (number | undefined)[]): number | undefined {
  let min: number | undefined;
  for (const v of values) if (v !== undefined && (min === undefined || v < min)) min = v;
  return min;
}

function memoryLimit(files: HostFiles, v1: readonly string[], v2: readonly string[]): number | undefined {
  const limits = [
    ...v1.map((dir) => readNumber(files, `${dir}/memory.limit_in_bytes`)),
    ...v2.map((dir) => readNumber(files, `${dir}/memory.max`)),
  ].filter((v) => v === undefined || (v > 0 && v < UNLIMITED_BYTES));
  return minDefined(limits);
}

function cpuQuota(files: HostFiles, v1: readonly string[], v2: readonly string[]): number | undefined {
  const quotas: (number | undefined)[] = [];
  for (const dir of v1) {
    const quota = readNumber(files, `${dir}/cpu.cfs_quota_us`);
    const period = readNumber(files, `${dir}/cpu.cfs_period_us`);
    if (quota !== undefined && quota > 0 && period !== undefined && period > 0) quotas.push(quota / period);
  }
  for (const dir of v2) {
    const [quota, period] = (files.readText(`${dir}/cpu.max`) ?? "").trim().split(/\s+/);
    if (quota === undefined || quota === "max" || period === undefined) continue;
    const q = Number(quota);
    const p = Number(period);
    if (q > 0 && p > 0) quotas.push(q / p);
  }
  return minDefined(quotas);
}

function cpuset(files: HostFiles, v1: readonly string[], v2: readonly string[]): number[] | undefined {
  // The "effective" list already folds in every ancestor's restriction.
  const candidates = [
    ...(v1[0] === undefined ? [] : [`${v1[0]}/cpuset.effective_cpus`, `${v1[0]}/cpuset.cpus`]),
    ...(v2[0] === undefined ? [] : [`${v2[0]}/cpuset.cpus.effective`]),
  ];
  for (const path of candidates) {
    const text = files.readText(path);
    if (text === undefined) continue;
    const cpus = parseCpuList(text);
    if (cpus !== undefined && cpus.length > 0) return cpus;
  }
  return undefined;
}

/** Reads the limits of the cgroups of a process (ourselves by default), v1 and v2 alike. */
export function readOwnCgroupLimits(files: HostFiles, pid: number | "self" = "self"): OwnCgroupLimits {
  const memberships = parseProcCgroup(files.readText(`/proc/${pid}/cgroup`) ?? "");
  const mounts = parseCgroupMounts(files.readText(`/proc/${pid}/mountinfo`) ?? "");
  const v2 = cgroupDirs(memberships, mounts, undefined);
  const limits: { cpus?: number[]; cpuQuotaCores?: number; memoryBytes?: number } = {};
  const cpus = cpuset(files, cgroupDirs(memberships, mounts, "cpuset"), v2);
  if (cpus !== undefined) limits.cpus = cpus;
  const quota = cpuQuota(files, cgroupDirs(memberships, mounts, "cpu"), v2);
  if (quota !== undefined) limits.cpuQuotaCores = quota;
  const memory = memoryLimit(files, cgroupDirs(memberships, mounts, "memory"), v2);
  if (memory !== undefined) limits.memoryBytes = memory;
  return limits;
}
