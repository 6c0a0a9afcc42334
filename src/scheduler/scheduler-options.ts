import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Pool } from "../domain/index.ts";

/** How free capacity is preferred within a pool. */
export type FitStrategy =
  /** Prefer the emptiest node: smaller blast radius, less CPU contention (the default). */
  | "spread"
  /** Prefer the fullest node that fits: keeps whole nodes free for big jobs. */
  | "binpack";

/** Relative weights of the ranking terms; each term scores a node in [0, 1]. */
export interface ScoringWeights {
  /** Dataset already hot in the node's RAM (cost: missing bytes ÷ link bandwidth). */
  readonly locality: number;
  /** Lowest real CPU load, from the last heartbeat. */
  readonly load: number;
  /** Spread or bin-pack, by committed cores and memory after this placement. */
  readonly fit: number;
  /** The manifest's weighted preferred tags. */
  readonly preferred: number;
}

/** Scheduler options as a caller gives them; anything left out takes its default. */
export interface SchedulerOptions {
  readonly weights?: Partial<ScoringWeights>;
  readonly fit?: Partial<Record<Pool, FitStrategy>>;
  /**
   * Seconds of transfer that halve a node's locality score: a dataset that would take this long
   * to pull over the node's link is worth half as much as one already hot.
   */
  readonly localityHalfScoreSeconds?: number;
  /**
   * Feasible nodes scored per decision, beyond the hot-dataset and preferred-tag nodes, per pool
   * (Nomad scores 2 for batch jobs, log2(n) for services). `Infinity` scores every feasible node.
   */
  readonly scoreLimit?: Partial<Record<Pool, number>>;
  /** Feasible nodes scored from the hot-dataset and preferred-tag indices, first. */
  readonly priorityLimit?: number;
}

/** Options with every default filled and checked. */
export interface CompiledSchedulerOptions {
  readonly weights: ScoringWeights;
  readonly fit: Readonly<Record<Pool, FitStrategy>>;
  readonly localityHalfScoreSeconds: number;
  readonly scoreLimit: Readonly<Record<Pool, number>>;
  readonly priorityLimit: number;
}

/**
 * The defaults, and why:
 *  - locality weighs most, because pulling a 50 GiB dataset costs minutes while a busier CPU
 *    costs percent; its guard (see scorers.ts) stops one hot node from taking every backtest;
 *  - preferred tags next: the author asked for them by name;
 *  - load and fit break the remaining ties between similar nodes.
 */
export const DEFAULT_SCHEDULER_OPTIONS: CompiledSchedulerOptions = {
  weights: { locality: 4, load: 1, fit: 1, preferred: 2 },
  // Spread in both pools: live for blast radius and latency; backtests because they are CPU-bound
  // replays on machines the firm owns, where an idle node is waste, and because bin-packing would
  // pull every backtest onto the node that holds its dataset hot, defeating the locality guard.
  fit: { live: "spread", backtest: "spread" },
  localityHalfScoreSeconds: 10,
  scoreLimit: { live: 64, backtest: 16 },
  priorityLimit: 16,
};

/** Validates options and fills defaults. */
export function compileSchedulerOptions(options: SchedulerOptions = {}): CompiledSchedulerOptions {
  const d = DEFAULT_SCHEDULER_OPTIONS;
  const compiled: CompiledSchedulerOptions = {
    weights: { ...d.weights, ...options.weights },
    fit: { ...d.fit, ...options.fit },
    localityHalfScoreSeconds: options.localityHalfScoreSeconds ?? d.localityHalfScoreSeconds,
    scoreLimit: { ...d.scoreLimit, ...options.scoreLimit },
    priorityLimit: options.priorityLimit ?? d.priorityLimit,
  };
  for (const [name, w] of Object.entries(compiled.weights)) {
    if (!(w >= 0) || !Number.isFinite(w)) fail(`weights.${name}`, "a finite weight of 0 or more", w);
  }
  if (!(compiled.localityHalfScoreSeconds > 0)) {
    fail("localityHalfScoreSeconds", "a number of seconds above 0", compiled.localityHalfScoreSeconds);
  }
  for (const [pool, limit] of Object.entries(compiled.scoreLimit)) {
    if (!(limit >= 1)) fail(`scoreLimit.${pool}`, "at least 1 (or Infinity)", limit);
  }
  if (!(compiled.priorityLimit >= 0)) fail("priorityLimit", "0 or more", compiled.priorityLimit);
  return compiled;
}

function fail(field: string, expected: string, found: unknown): never {
  throw new HiveError(
    ErrorCode.InvalidArgument,
    `scheduler options: ${field}: found ${JSON.stringify(found)}, expected ${expected}`,
  );
}
