/**
 * How a placement is decided. This file wires the stages together; read it first.
 *
 *   request ─▶ checkRequest ─▶ candidate source ─▶ feasibility chain ─▶ scorers ─▶ best score
 *                                                   (first "no" wins,     (weighted,    (seeded
 *                                                    named reason)         in [0, 1])   tie break)
 *
 * Two modes share every rule:
 *  - `indexed` (the default): candidates come from the node indices, the nodes holding the
 *    request's datasets hot and carrying its preferred tags first, then the smallest pool/tag list
 *    in a seeded random order; it stops after `scoreLimit` feasible nodes, as Nomad's limit
 *    iterator does, so a decision costs about the same at 1,000 or 10,000 nodes;
 *  - `exhaustive`: every node, every feasible node scored. It is the baseline of the benchmark,
 *    the engine of `explain`, and what the property tests compare the indexed mode against.
 *
 * A refusal from either mode counts the nodes per reason exactly; `explain` adds per-node detail.
 */
import { hashString, mix32, StridePermutation } from "../core/seeded-random.ts";
import {
  antiAffinityChecker,
  coresChecker,
  drainingChecker,
  exclusiveCoresChecker,
  memoryChecker,
  poolChecker,
  portsChecker,
  readyChecker,
  requiredTagsChecker,
  type FeasibilityChecker,
} from "./checkers.ts";
import type { ClusterState } from "./cluster-state.ts";
import { datasetKey } from "./node-index.ts";
import { makeContext, Overlay, type EvalContext } from "./eval-context.ts";
import { REASON_LABELS, type ReasonCode } from "./reasons.ts";
import { checkRequest, type PlacementRequest } from "./request.ts";
import { compileSchedulerOptions, type CompiledSchedulerOptions } from "./scheduler-options.ts";

/**
 * The feasibility chain, in order. Ordering rule: the partition and tag checks come first,
 * because the indexed mode answers them from its indices and its refusal counts must match the
 * exhaustive mode's; then node health; then the per-node resource checks, cheapest first.
 */
export const CHECKERS: readonly FeasibilityChecker[] = [
  poolChecker, // default-deny partition, from the node's side
  requiredTagsChecker, // per node class, memoised
  readyChecker, // lease healthy (not suspect or down)
  drainingChecker, // takes nothing new while draining
  antiAffinityChecker, // a standby never beside its active
  coresChecker, // free cores, in-flight reservations included
  exclusiveCoresChecker, // pinnable whole cores (live)
  memoryChecker, // free memory, in-flight reservations included
  portsChecker, // free ports in the node's range
];

export { SCORERS } from "./scorers.ts";

/** A count of nodes refused for one reason. */
export interface ReasonCount {
  readonly reason: ReasonCode;
  readonly count: number;
}

/** The outcome of one decision: a node, or a refusal with every node accounted for. */
export type Decision =
  | {
      readonly ok: true;
      readonly nodeId: string;
      /** The node's number in the cluster state. */
      readonly node: number;
      readonly score: number;
      /** Nodes looked at, and feasible nodes scored. */
      readonly visited: number;
      readonly scored: number;
    }
  | {
      readonly ok: false;
      /** Nodes refused per reason, most common first; they add up to the cluster's size. */
      readonly reasons: readonly ReasonCount[];
      /** One line: "4,812 nodes: pool mismatch; 180: not enough memory". */
      readonly message: string;
    };

/** Per-decision options. */
export interface ScheduleOptions {
  /** Seeds the candidate order and the tie break: same state, request and seed ⇒ same node. */
  readonly seed: number;
  readonly mode?: "indexed" | "exhaustive";
  /** Tentative placements of this evaluation (see placeLayout). */
  readonly overlay?: Overlay;
  /** Node numbers to avoid in addition to `request.avoidNodes`. */
  readonly avoid?: readonly number[];
  readonly options?: CompiledSchedulerOptions;
}

const DEFAULTS = compileSchedulerOptions();

/** Places one request: a pure function of the cluster state, the request and the seed. */
export function schedule(cluster: ClusterState, request: PlacementRequest, opts: ScheduleOptions): Decision {
  checkRequest(request);
  const ctx = makeContext(
    cluster,
    request,
    opts.options ?? DEFAULTS,
    opts.overlay ?? new Overlay(),
    opts.avoid,
  );
  const search = new Search(ctx, mix32(opts.seed >>> 0, hashString(request.key)));
  if (opts.mode === "exhaustive") search.exhaustive();
  else search.indexed();
  return search.decision();
}

/** The first checker that refuses node `i`, or undefined if the node is feasible. */
export function firstFailing(ctx: EvalContext, i: number): FeasibilityChecker | undefined {
  for (const checker of CHECKERS) if (!checker.feasible(ctx, i)) return checker;
  return undefined;
}

/** The weighted score of a feasible node in [0, 1], and each term's part. */
export function scoreNode(ctx: EvalContext, i: number): number {
  let total = 0;
  for (const { scorer, weight } of ctx.scoring) total += weight * scorer.score(ctx, i);
  return ctx.weightTotal > 0 ? total / ctx.weightTotal : 0;
}

/** One decision's search state: the best node so far and the refusal counts. */
class Search {
  private best = -1;
  private bestScore = -Infinity;
  private bestTie = 0;
  private visited = 0;
  private scored = 0;
  private readonly counts = new Map<ReasonCode, number>();
  /** Nodes already visited from a priority list (allocated only when there is one). */
  private seen: Set<number> | undefined;

  constructor(
    private readonly ctx: EvalContext,
    private readonly seed: number,
  ) {}

  /** Every node, in node order; every feasible node scored. */
  exhaustive(): void {
    for (let i = 0; i < this.ctx.cluster.size; i++) this.consider(i);
  }

  /** Priority nodes first, then the smallest candidate list, both in seeded order, with limits. */
  indexed(): void {
    const { cluster, request, options } = this.ctx;
    const index = cluster.index;
    const pool = index.pool(request.pool);
    const candidates = index.candidates(request.pool, request.requiredTags);

    // Nodes outside the candidate list are refused by the partition or a tag, without a look.
    this.count(poolChecker.reason, cluster.size - pool.length);
    this.count(requiredTagsChecker.reason, pool.length - candidates.length);

    // 1. Nodes that hold a needed dataset hot, or carry a preferred tag: they are where the best
    //    scores are, and the random sample below could miss them.
    let found = 0;
    for (const d of request.datasets)
      found = this.visitPriority(index.hot(datasetKey(d.id, d.version)), found);
    for (const p of request.preferredTags)
      found = this.visitPriority(index.poolTag(request.pool, p.tag), found);

    // 2. The candidate list, in seeded random order, until `scoreLimit` feasible nodes.
    const limit = options.scoreLimit[request.pool];
    const order = new StridePermutation(candidates.length, this.seed);
    found = 0;
    for (let k = 0; k < candidates.length && found < limit; k++) {
      const i = candidates[order.at(k)] ?? 0;
      if (this.seen?.has(i)) continue;
      if (this.consider(i)) found++;
    }
  }

  /** Visits a priority list in seeded order until the priority limit; returns the feasible count. */
  private visitPriority(list: Int32Array, found: number): number {
    const limit = this.ctx.options.priorityLimit;
    if (list.length === 0 || found >= limit) return found;
    const order = new StridePermutation(list.length, this.seed);
    for (let k = 0; k < list.length && found < limit; k++) {
      const i = list[order.at(k)] ?? 0;
      // Nodes of the wrong pool or tags are left to the counts above and the pass below.
      if (this.seen?.has(i) || !poolChecker.feasible(this.ctx, i)) continue;
      if (!requiredTagsChecker.feasible(this.ctx, i)) continue;
      (this.seen ??= new Set()).add(i);
      if (this.consider(i)) found++;
    }
    return found;
  }

  /** Runs the chain on node `i`; scores it if feasible. Returns whether it was feasible. */
  private consider(i: number): boolean {
    this.visited++;
    const failed = firstFailing(this.ctx, i);
    if (failed !== undefined) {
      this.count(failed.reason, 1);
      return false;
    }
    this.scored++;
    const score = scoreNode(this.ctx, i);
    // Ties go to the smallest seeded hash of the node id, so the order nodes are visited in
    // (index order, random order) never changes which of two equal nodes wins.
    const tie = mix32(this.seed, this.ctx.cluster.idHash[i] ?? 0);
    if (score > this.bestScore || (score === this.bestScore && tie < this.bestTie)) {
      this.best = i;
      this.bestScore = score;
      this.bestTie = tie;
    }
    return true;
  }

  private count(reason: ReasonCode, n: number): void {
    if (n > 0) this.counts.set(reason, (this.counts.get(reason) ?? 0) + n);
  }

  decision(): Decision {
    if (this.best >= 0) {
      return {
        ok: true,
        nodeId: this.ctx.cluster.nodes[this.best]?.id ?? "",
        node: this.best,
        score: this.bestScore,
        visited: this.visited,
        scored: this.scored,
      };
    }
    const reasons = [...this.counts]
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
    return { ok: false, reasons, message: formatReasons(reasons, this.ctx.cluster.size) };
  }
}

/** "4,812 nodes: pool mismatch; 180: not enough memory" (or "no nodes in the cluster"). */
export function formatReasons(reasons: readonly ReasonCount[], clusterSize: number): string {
  if (clusterSize === 0) return "no nodes in the cluster";
  return reasons
    .map((r, k) => {
      const noun = k > 0 ? "" : r.count === 1 ? " node" : " nodes";
      return `${r.count.toLocaleString("en-US")}${noun}: ${REASON_LABELS[r.reason]}`;
    })
    .join("; ");
}
