import type { EvalContext } from "./eval-context.ts";

/** The names of the ranking terms, as explanations print them. */
export type ScoreName = "locality" | "load" | "fit" | "preferred";

/** One ranking term: a score in [0, 1] for a feasible node, higher is better. */
export interface Scorer {
  readonly name: ScoreName;
  /** Whether the term means anything for this request (no datasets ⇒ no locality). */
  applies(request: Pick<EvalContext, "datasetBytes" | "preferredWeight">): boolean;
  score(ctx: EvalContext, i: number): number;
}

/** Committed share of the node's cores once this request is on it, in [0, 1]. */
function coreUtilisationAfter(ctx: EvalContext, i: number): number {
  return coreUtilisation(ctx, i, ctx.cores);
}

/** Committed share of the node's cores with `extra` more, in [0, 1]. */
function coreUtilisation(ctx: EvalContext, i: number, extra: number): number {
  const c = ctx.cluster;
  const cap = c.capCores[i] ?? 1;
  return clamp01(((c.usedCores[i] ?? 0) + ctx.overlay.cores(i) + extra) / cap);
}

/**
 * Data locality as a cost, in the manner of Dask's worker objective: the seconds it would take
 * to pull the bytes that are not already hot, `missing bytes ÷ link bandwidth`, turned into a
 * score by `1 / (1 + seconds / halfScoreSeconds)`.
 *
 * The guard: the advantage a hot node has over a cold one shrinks with how busy it already is
 * (`× (1 − utilisation)`, before this placement), so the first backtests on a dataset go to the node that holds it, and
 * once that node fills up, an idle cold node wins rather than every backtest queueing behind one
 * hot node.
 */
export const localityScorer: Scorer = {
  name: "locality",
  applies: (ctx) => ctx.datasetBytes > 0,
  score: (ctx, i) => {
    const c = ctx.cluster;
    const bandwidth = c.bandwidth[i] ?? 1;
    const half = ctx.options.localityHalfScoreSeconds;
    let missing = 0;
    for (let k = 0; k < ctx.datasetOrdinals.length; k++) {
      if (!c.index.isHot(ctx.datasetOrdinals[k] ?? -1, i)) missing += ctx.request.datasets[k]?.bytes ?? 0;
    }
    const cold = 1 / (1 + ctx.datasetBytes / bandwidth / half);
    if (missing >= ctx.datasetBytes) return cold;
    const warm = 1 / (1 + missing / bandwidth / half);
    // How busy the node is before this placement: counting the request's own cores would take
    // all of the hot node's advantage from a request that fills a node.
    const utilisation = Math.max(c.cpuLoad[i] ?? 0, coreUtilisation(ctx, i, 0));
    return cold + (warm - cold) * (1 - utilisation);
  },
};

/** Lowest real CPU load first, as the runner last measured it. */
export const loadScorer: Scorer = {
  name: "load",
  applies: () => true,
  score: (ctx, i) => 1 - (ctx.cluster.cpuLoad[i] ?? 0),
};

/** Spread (prefer empty) or bin-pack (prefer full), per pool, on committed cores and memory. */
export const fitScorer: Scorer = {
  name: "fit",
  applies: () => true,
  score: (ctx, i) => {
    const c = ctx.cluster;
    const memory = clamp01(
      ((c.usedMemory[i] ?? 0) + ctx.overlay.memory(i) + ctx.request.demand.memoryBytes) /
        (c.capMemory[i] ?? 1),
    );
    const utilisation = (coreUtilisationAfter(ctx, i) + memory) / 2;
    return ctx.options.fit[ctx.request.pool] === "binpack" ? utilisation : 1 - utilisation;
  },
};

/** The share of the request's preferred-tag weight that the node carries. */
export const preferredTagsScorer: Scorer = {
  name: "preferred",
  applies: (ctx) => ctx.preferredWeight > 0,
  score: (ctx, i) => ctx.cluster.index.preferredShare(i, ctx.request.preferredTags, ctx.preferredSignature),
};

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** The ranking terms, in the order explanations show them; their weights are in the options. */
export const SCORERS: readonly Scorer[] = [localityScorer, loadScorer, fitScorer, preferredTagsScorer];
