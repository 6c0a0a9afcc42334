import type { ClusterState } from "./cluster-state.ts";
import { datasetKey } from "./node-index.ts";
import { coresTaken, type Demand, type PlacementRequest } from "./request.ts";
import type { CompiledSchedulerOptions } from "./scheduler-options.ts";
import { SCORERS, type Scorer } from "./scorers.ts";

/**
 * Tentative reservations made during one evaluation (the earlier services of a layout being
 * placed all-or-nothing). They count like committed resources but touch nothing the caller owns.
 */
export class Overlay {
  private readonly used = new Map<
    number,
    { cores: number; memory: number; exclusive: number; ports: number }
  >();

  /** Adds a tentative placement on node `i`. */
  add(i: number, d: Demand): void {
    const u = this.used.get(i) ?? { cores: 0, memory: 0, exclusive: 0, ports: 0 };
    u.cores += coresTaken(d);
    u.memory += d.memoryBytes;
    u.exclusive += d.exclusiveCores;
    u.ports += d.ports;
    this.used.set(i, u);
  }

  /** Tentative cores on node `i`. */
  cores(i: number): number {
    return this.used.size === 0 ? 0 : (this.used.get(i)?.cores ?? 0);
  }
  /** Tentative memory on node `i`. */
  memory(i: number): number {
    return this.used.size === 0 ? 0 : (this.used.get(i)?.memory ?? 0);
  }
  /** Tentative exclusive cores on node `i`. */
  exclusive(i: number): number {
    return this.used.size === 0 ? 0 : (this.used.get(i)?.exclusive ?? 0);
  }
  /** Tentative ports on node `i`. */
  ports(i: number): number {
    return this.used.size === 0 ? 0 : (this.used.get(i)?.ports ?? 0);
  }
}

/** Everything a checker or scorer reads for one decision, computed once per decision. */
export interface EvalContext {
  readonly cluster: ClusterState;
  readonly request: PlacementRequest;
  readonly options: CompiledSchedulerOptions;
  readonly overlay: Overlay;
  /** Node numbers the request may not use (standby anti-affinity); usually none or one. */
  readonly avoid: readonly number[];
  /** Cores the request takes (see coresTaken). */
  readonly cores: number;
  /** Memo keys for the request's required and preferred tags. */
  readonly requiredSignature: string;
  readonly preferredSignature: string;
  /** Ordinals of the request's datasets in the hot-set index (-1: hot nowhere), and their total size. */
  readonly datasetOrdinals: readonly number[];
  readonly datasetBytes: number;
  readonly preferredWeight: number;
  /** The scorers that apply to this request, with their weights, and the sum of those weights. */
  readonly scoring: readonly { readonly scorer: Scorer; readonly weight: number }[];
  readonly weightTotal: number;
}

/** Builds the context of one decision. */
export function makeContext(
  cluster: ClusterState,
  request: PlacementRequest,
  options: CompiledSchedulerOptions,
  overlay: Overlay,
  extraAvoid: readonly number[] = [],
): EvalContext {
  let avoid = extraAvoid;
  if (request.avoidNodes.length > 0) {
    const all = [...extraAvoid];
    for (const id of request.avoidNodes) {
      const i = cluster.lookup(id);
      if (i >= 0) all.push(i);
    }
    avoid = all;
  }
  const facts = {
    datasetBytes: request.datasets.reduce((sum, d) => sum + d.bytes, 0),
    preferredWeight: request.preferredTags.reduce((sum, p) => sum + p.weight, 0),
  };
  // Which terms apply depends on the request only: decided once here, not for every node.
  const scoring = SCORERS.filter((scorer) => scorer.applies(facts)).map((scorer) => ({
    scorer,
    weight: options.weights[scorer.name],
  }));
  // One literal, so every context has the same shape for the checkers' hot loop.
  return {
    cluster,
    request,
    options,
    overlay,
    avoid,
    cores: coresTaken(request.demand),
    // Memo keys; the same tags in another order only make a second memo entry, never a wrong one.
    requiredSignature: signature(request.requiredTags),
    preferredSignature: request.preferredTags.length === 0 ? "" : preferredSignature(request.preferredTags),
    datasetOrdinals: request.datasets.map((d) => cluster.index.datasetOrdinal(datasetKey(d.id, d.version))),
    datasetBytes: facts.datasetBytes,
    preferredWeight: facts.preferredWeight,
    scoring,
    weightTotal: scoring.reduce((sum, s) => sum + s.weight, 0),
  };
}

function signature(tags: readonly string[]): string {
  return tags.length === 0 ? "" : tags.length === 1 ? (tags[0] ?? "") : tags.join("\u0000");
}

function preferredSignature(preferred: PlacementRequest["preferredTags"]): string {
  let out = "";
  for (const p of preferred) out += `${p.tag}=${p.weight}\u0000`;
  return out;
}
