/** The percentiles the benchmarks print: nearest rank on sorted samples, floor(p × n). */

/** The sample at rank floor(p × n) of `sorted` (ascending); NaN when there are none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** n, p50, p99 and max of samples in ms, rounded to 0.01 ms. */
export function msStats(samples: readonly number[]): {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
} {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    n: s.length,
    p50Ms: r(percentile(s, 0.5)),
    p99Ms: r(percentile(s, 0.99)),
    maxMs: r(s.at(-1) ?? Number.NaN),
  };
}
