/**
 * The machine's real load for heartbeats: CPU busy since the previous sample (from /proc/stat
 * deltas) and memory in use (MemTotal - MemAvailable, from /proc/meminfo).
 */
import { HiveError, ErrorCode } from "../../core/hive-error.ts";
import { realHostFiles, type HostFiles } from "./host-files.ts";
import { parseMeminfo } from "./meminfo.ts";
import { busyFraction, parseCpuStat, sumCpus, type CpuTimes } from "./cpu-times.ts";

/** One load sample. */
export interface HostLoad {
  /** Fraction (0..1) of our CPUs' time that was busy since the previous sample. */
  readonly cpu: number;
  /** MemTotal - MemAvailable, in bytes. */
  readonly memoryUsedBytes: number;
}

/** Options of a {@link LoadSampler}. */
export interface LoadSamplerOptions {
  readonly files?: HostFiles;
  /**
   * The CPUs to measure (a restricted runner's cpuset, from readCapacity().cpus); by default the
   * whole machine's aggregate line.
   */
  readonly cpus?: readonly number[];
}

/**
 * Samples the machine's load. The first reading is taken at construction, so the first
 * `sample()` covers the time since then; a sample taken less than one clock tick after the
 * previous one repeats the previous CPU figure instead of inventing 0.
 */
export class LoadSampler {
  private readonly files: HostFiles;
  private readonly cpus: readonly number[] | undefined;
  private previous: CpuTimes;
  private lastCpu = 0;

  constructor(options: LoadSamplerOptions = {}) {
    this.files = options.files ?? realHostFiles;
    this.cpus = options.cpus;
    this.previous = this.readCpu();
  }

  /** Reads /proc now and returns the load since the previous sample. */
  sample(): HostLoad {
    const now = this.readCpu();
    const cpu = busyFraction(this.previous, now);
    if (cpu !== undefined) {
      this.previous = now;
      this.lastCpu = cpu;
    }
    const meminfo = parseMeminfo(this.files.readText("/proc/meminfo") ?? "");
    if (meminfo === undefined) throw unreadable("/proc/meminfo", "a MemTotal line");
    return { cpu: this.lastCpu, memoryUsedBytes: meminfo.totalBytes - meminfo.availableBytes };
  }

  private readCpu(): CpuTimes {
    const stat = parseCpuStat(this.files.readText("/proc/stat") ?? "");
    if (stat === undefined) throw unreadable("/proc/stat", "a 'cpu' line");
    if (this.cpus === undefined) return stat.all;
    return sumCpus(stat, this.cpus);
  }
}

function unreadable(path: string, expected: string): HiveError {
  return new HiveError(
    ErrorCode.FailedPrecondition,
    `cannot sample the machine's load: ${path} is missing or malformed (expected ${expected})`,
  );
}
