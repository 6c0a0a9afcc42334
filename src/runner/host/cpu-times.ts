/** Parsing of /proc/stat's CPU lines, and the busy fraction between two readings. */

/** Cumulative CPU time of one CPU line of /proc/stat, in clock ticks. */
export interface CpuTimes {
  /** Ticks spent doing work: user, nice, system, irq, softirq, steal. */
  readonly busy: number;
  /** All ticks: busy plus idle and iowait. */
  readonly total: number;
}

/** The CPU lines of /proc/stat: the aggregate line and one per online CPU. */
export interface CpuStat {
  /** The `cpu` line: every CPU of the machine together. */
  readonly all: CpuTimes;
  /** The `cpuN` lines, by CPU number; offline CPUs have no line. */
  readonly perCpu: ReadonlyMap<number, CpuTimes>;
}

const CPU_LINE = /^cpu(\d*)\s+(.*)$/;

/**
 * Parses the text of /proc/stat. Columns are user nice system idle iowait irq softirq steal guest
 * guest_nice; guest time is already counted inside user and nice, so it is left out of the sum.
 * Old kernels print fewer columns; missing ones count as 0. Returns undefined without a `cpu` line.
 */
export function parseCpuStat(text: string): CpuStat | undefined {
  let all: CpuTimes | undefined;
  const perCpu = new Map<number, CpuTimes>();
  for (const line of text.split("\n")) {
    const match = CPU_LINE.exec(line);
    if (!match) continue;
    const times = cpuTimes(match[2] ?? "");
    if (times === undefined) continue;
    if (match[1] === "") all = times;
    else perCpu.set(Number(match[1]), times);
  }
  return all === undefined ? undefined : { all, perCpu };
}

function cpuTimes(columns: string): CpuTimes | undefined {
  const n = columns.trim().split(/\s+/).map(Number);
  if (n.length < 4 || n.some((v) => !Number.isFinite(v))) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = n;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** Adds the times of the given CPUs (those we may run on); CPUs without a line are skipped. */
export function sumCpus(stat: CpuStat, cpus: readonly number[]): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const cpu of cpus) {
    const t = stat.perCpu.get(cpu);
    if (t === undefined) continue;
    busy += t.busy;
    total += t.total;
  }
  return { busy, total };
}

/**
 * The fraction (0..1) of CPU time that was busy between two readings, or undefined when no tick
 * passed between them (the counters have a resolution of one tick, usually 10 ms).
 */
export function busyFraction(before: CpuTimes, after: CpuTimes): number | undefined {
  const total = after.total - before.total;
  if (total <= 0) return undefined;
  const busy = after.busy - before.busy;
  return Math.min(1, Math.max(0, busy / total));
}
