import { makeContext, Overlay } from "./eval-context.ts";
import type { ClusterState } from "./cluster-state.ts";
import { REASON_LABELS, type ReasonCode } from "./reasons.ts";
import type { PlacementRequest } from "./request.ts";
import { compileSchedulerOptions, type CompiledSchedulerOptions } from "./scheduler-options.ts";
import { firstFailing, schedule, scoreNode, type Decision } from "./stack.ts";
import type { ScoreName } from "./scorers.ts";

/** What `hive explain` says about one node. */
export type NodeVerdict =
  | {
      readonly nodeId: string;
      readonly verdict: "refused";
      readonly reason: ReasonCode;
      readonly detail: string;
    }
  | {
      readonly nodeId: string;
      readonly verdict: "chosen" | "feasible";
      readonly score: number;
      readonly parts: Readonly<Partial<Record<ScoreName, number>>>;
      /** Whether every dataset of the request is hot on the node (undefined if it needs none). */
      readonly hot: boolean | undefined;
    };

/** The answer to "why is this pending?" (or "why there?"), per node and in aggregate. */
export interface Explanation {
  /** The decision the scheduler makes (indexed mode, the same seed). */
  readonly decision: Decision;
  /** Every node: refused ones with their reason, feasible ones with their scores, best first. */
  readonly nodes: readonly NodeVerdict[];
  /** "4,812 nodes: pool mismatch; 180: not enough memory; 8: dataset not hot, lower score". */
  readonly summary: string;
}

/** Explains a placement by running every rule on every node (the exhaustive mode, with words). */
export function explain(
  cluster: ClusterState,
  request: PlacementRequest,
  opts: { seed: number; options?: CompiledSchedulerOptions; overlay?: Overlay },
): Explanation {
  const options = opts.options ?? compileSchedulerOptions();
  const overlay = opts.overlay ?? new Overlay();
  const decision = schedule(cluster, request, { seed: opts.seed, options, overlay });
  const ctx = makeContext(cluster, request, options, overlay);
  const refused: NodeVerdict[] = [];
  const feasible: NodeVerdict[] = [];
  for (let i = 0; i < cluster.size; i++) {
    const nodeId = cluster.nodes[i]?.id ?? "";
    const failed = firstFailing(ctx, i);
    if (failed) {
      refused.push({ nodeId, verdict: "refused", reason: failed.reason, detail: failed.explain(ctx, i) });
      continue;
    }
    const parts: Partial<Record<ScoreName, number>> = {};
    for (const { scorer } of ctx.scoring) parts[scorer.name] = scorer.score(ctx, i);
    const hot =
      ctx.datasetOrdinals.length === 0
        ? undefined
        : ctx.datasetOrdinals.every((k) => cluster.index.isHot(k, i));
    const chosen = decision.ok && decision.node === i;
    feasible.push({
      nodeId,
      verdict: chosen ? "chosen" : "feasible",
      score: scoreNode(ctx, i),
      parts,
      hot,
    });
  }
  feasible.sort((a, b) => (a.verdict === "chosen" ? -1 : b.verdict === "chosen" ? 1 : score(b) - score(a)));
  return { decision, nodes: [...feasible, ...refused], summary: summarise(refused, feasible, cluster.size) };
}

function score(v: NodeVerdict): number {
  return v.verdict === "refused" ? -1 : v.score;
}

function summarise(refused: readonly NodeVerdict[], feasible: readonly NodeVerdict[], size: number): string {
  if (size === 0) return "no nodes in the cluster";
  const groups = new Map<string, number>();
  const add = (label: string) => groups.set(label, (groups.get(label) ?? 0) + 1);
  for (const v of refused) if (v.verdict === "refused") add(REASON_LABELS[v.reason]);
  for (const v of feasible) {
    if (v.verdict === "chosen") add("chosen");
    else if (v.verdict === "feasible")
      add(v.hot === false ? "dataset not hot, lower score" : "feasible, lower score");
  }
  return [...groups]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(
      ([label, n], k) =>
        `${n.toLocaleString("en-US")}${k === 0 ? (n === 1 ? " node" : " nodes") : ""}: ${label}`,
    )
    .join("; ");
}
