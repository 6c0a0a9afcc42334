/**
 * Measuring helpers of bench/control-plane.bench.ts: another process's CPU time and memory from
 * /proc, the whole machine's busy time, Prometheus text (a counter, a histogram's buckets) and
 * quantiles, from samples or from histogram buckets.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc CPU times: `getconf CLK_TCK`, else the usual 100 (`assumed`). */
export function clockTicks(): { perSec: number; assumed: boolean } {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", timeout: 2_000 }).trim());
    if (Number.isInteger(n) && n > 0) return { perSec: n, assumed: false };
  } catch {
    // No getconf: fall through.
  }
  return { perSec: 100, assumed: true };
}

/** A process's user + system CPU time so far, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** A process's resident memory now and at its peak, in bytes (VmRSS, VmHWM of /proc/<pid>/status). */
export function memory(pid: number): { rssBytes: number; peakBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssBytes: kib("VmRSS") * 1024, peakBytes: kib("VmHWM") * 1024 };
}

/** The whole machine's busy CPU time so far, all cores, in clock ticks (first line of /proc/stat). */
export function machineBusyTicks(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // Everything but idle and iowait (the 4th and 5th fields of the cpu line).
  return v.reduce((a, b) => a + b, 0) - (v[3] ?? 0) - (v[4] ?? 0);
}

/** One sample of a Prometheus text exposition: name, labels, value. */
interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus text format (the subset prom-client writes: no timestamps, no escapes in labels). */
export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line.trim());
    if (!m?.[1] || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)) labels[l[1] ?? ""] = l[2] ?? "";
    out.push({ name: m[1], labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  }
  return out;
}

/** The sum of every sample of one metric name. */
export function metricValue(samples: readonly PromSample[], name: string): number {
  return samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
}

/** A histogram's cumulative buckets, by upper bound (seconds), +Inf last. */
export type Buckets = readonly { readonly le: number; readonly count: number }[];

/** The cumulative buckets of histogram `name`. */
export function histogram(samples: readonly PromSample[], name: string): Buckets {
  return samples
    .filter((s) => s.name === `${name}_bucket` && s.labels.le !== undefined)
    .map((s) => ({ le: s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), count: s.value }))
    .sort((a, b) => a.le - b.le);
}

/** What was observed between two scrapes of the same histogram: `after - before`, bucket by bucket. */
export function bucketDelta(before: Buckets, after: Buckets): Buckets {
  return after.map((b) => ({ le: b.le, count: b.count - (before.find((x) => x.le === b.le)?.count ?? 0) }));
}

/**
 * The q-quantile of a histogram, interpolated linearly within the bucket that holds it (as
 * Prometheus' histogram_quantile does; the first bucket starts at 0). A quantile that falls in
 * the +Inf bucket is reported as the largest finite bound with `overflow` set.
 */
export function bucketQuantile(buckets: Buckets, q: number): { value: number; overflow: boolean } {
  const total = buckets[buckets.length - 1]?.count ?? 0;
  if (total === 0) return { value: NaN, overflow: false };
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return { value: lower, overflow: true };
      const inBucket = b.count - below;
      return {
        value: lower + (b.le - lower) * (inBucket === 0 ? 1 : (rank - below) / inBucket),
        overflow: false,
      };
    }
    lower = b.le;
    below = b.count;
  }
  return { value: lower, overflow: true };
}

/** p50 and max of samples (nearest rank), rounded to 0.1. */
export function summary(samples: readonly number[]): { n: number; p50: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const p50 = s[Math.min(s.length - 1, Math.floor(0.5 * s.length))] ?? NaN;
  return { n: s.length, p50: round(p50), max: round(s[s.length - 1] ?? NaN) };
}

/** Rounds to `digits` decimals. */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
