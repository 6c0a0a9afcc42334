/**
 * The machine's real capacity as this runner may use it: the CPUs and memory of the host, narrowed
 * by our own cgroup (a cpuset, a CPU quota, a memory limit) when one restricts us — so a runner in
 * a container or a systemd slice does not promise the scheduler what it cannot give.
 */
import { availableParallelism } from "node:os";
import { HiveError, ErrorCode } from "../../core/hive-error.ts";
import { parseCpuList, readOwnCgroupLimits } from "./own-cgroup-limits.ts";
import { realHostFiles, type HostFiles } from "./host-files.ts";
import { parseMeminfo } from "./meminfo.ts";

/** What bounded a capacity figure: the machine itself or one of our cgroup's limits. */
export type CapacitySource = "host" | "affinity" | "cpuset" | "cpu_quota" | "memory_limit";

/** The cores and memory this runner can offer, and the CPUs it may run on. */
export interface HostCapacity {
  /** Cores we may use; fractional when a CPU quota is the tightest limit (e.g. 1.5). */
  readonly cores: number;
  /** Memory in bytes: MemTotal, or our cgroup's memory limit when that is lower. */
  readonly memoryBytes: number;
  /** The CPU numbers we may run on (our affinity within our cpuset), for pinning and load. */
  readonly cpus: readonly number[];
  /** What bounded each figure, for the runner's start-up log. */
  readonly limitedBy: { readonly cores: CapacitySource; readonly memory: CapacitySource };
}

/** Options of {@link readCapacity}; the defaults read the real machine. */
export interface ReadCapacityOptions {
  readonly files?: HostFiles;
  /** CPUs the scheduler lets us run on (os.availableParallelism() by default). */
  readonly parallelism?: number;
}

/** Reads the machine's capacity from /proc and our cgroup; throws if /proc/meminfo is unreadable. */
export function readCapacity(options: ReadCapacityOptions = {}): HostCapacity {
  const files = options.files ?? realHostFiles;
  const parallelism = options.parallelism ?? availableParallelism();
  const meminfo = parseMeminfo(files.readText("/proc/meminfo") ?? "");
  if (meminfo === undefined) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      "cannot read the machine's memory: /proc/meminfo is missing or has no MemTotal line " +
        "(expected Linux with /proc mounted)",
    );
  }
  const limits = readOwnCgroupLimits(files);

  // CPUs: the machine's online CPUs, narrowed by our cgroup's cpuset, then by our affinity mask
  // (taskset). The kernel already folds the cpuset into the affinity mask; reading the cpuset
  // too says which of the two is the reason.
  let cpus = readCpuList(files, "/sys/devices/system/cpu/online") ?? range(parallelism);
  let coresBy: CapacitySource = "host";
  for (const [by, allowed] of [
    ["cpuset", limits.cpus],
    ["affinity", cpusAllowed(files)],
  ] as const) {
    if (allowed === undefined) continue;
    const set = new Set(allowed);
    const narrowed = cpus.filter((cpu) => set.has(cpu));
    if (narrowed.length > 0 && narrowed.length < cpus.length) {
      cpus = narrowed;
      coresBy = by;
    }
  }
  let cores = Math.max(1, Math.min(cpus.length, parallelism));
  if (limits.cpuQuotaCores !== undefined && limits.cpuQuotaCores < cores) {
    cores = limits.cpuQuotaCores;
    coresBy = "cpu_quota";
  }

  const limited = limits.memoryBytes !== undefined && limits.memoryBytes < meminfo.totalBytes;
  return {
    cores,
    memoryBytes: limited ? (limits.memoryBytes ?? meminfo.totalBytes) : meminfo.totalBytes,
    cpus,
    limitedBy: { cores: coresBy, memory: limited ? "memory_limit" : "host" },
  };
}

// The Cpus_allowed_list line of /proc/self/status: the affinity mask the kernel enforces on us.
function cpusAllowed(files: HostFiles): number[] | undefined {
  const status = files.readText("/proc/self/status");
  const line = status?.split("\n").find((l) => l.startsWith("Cpus_allowed_list:"));
  if (line === undefined) return undefined;
  return nonEmpty(parseCpuList(line.slice("Cpus_allowed_list:".length)));
}

function readCpuList(files: HostFiles, path: string): number[] | undefined {
  const text = files.readText(path);
  return text === undefined ? undefined : nonEmpty(parseCpuList(text));
}

function nonEmpty(cpus: number[] | undefined): number[] | undefined {
  return cpus !== undefined && cpus.length > 0 ? cpus : undefined;
}

function range(n: number): number[] {
  return Array.from({ length: Math.max(1, n) }, (_, i) => i);
}
