import type { NodeSpec, Pool } from "../domain/index.ts";

const EMPTY = new Int32Array(0);

/** The key of a dataset in the hot-set index. */
export function datasetKey(id: string, version: string): string {
  return `${id}@${version}`;
}

/**
 * Indices over an immutable set of nodes, so that a decision starts from the few nodes that can
 * matter instead of scanning all of them (as Nomad's feasible iterators and Kubernetes' node
 * tree do):
 *  - by pool, and by (pool, tag): the candidate list is the smallest of these lists;
 *  - by hot dataset: the nodes that hold a dataset in RAM are looked at first;
 *  - by class: nodes with the same pool and tag set share one class, so "does this node have
 *    every required tag?" is answered once per class and remembered (Nomad's computed classes).
 */
export class NodeIndex {
  private readonly byPool = new Map<Pool, Int32Array>();
  private readonly byPoolTag = new Map<string, Int32Array>();
  private readonly byDataset = new Map<string, Int32Array>();
  /** Dataset key → ordinal, and each node's hot datasets as ordinals (a few per node). */
  private readonly datasetOrdinals = new Map<string, number>();
  private readonly hotOf: Int32Array[];
  /** The class of each node (same pool and same tags ⇒ same class). */
  readonly classOf: Int32Array;
  private readonly classTags: ReadonlySet<string>[] = [];
  private readonly tagMemo = new Map<string, Int8Array>();
  private readonly preferredMemo = new Map<string, Float64Array>();

  constructor(nodes: readonly NodeSpec[]) {
    const pools = new Map<Pool, number[]>();
    const poolTags = new Map<string, number[]>();
    const datasets = new Map<string, number[]>();
    const classIds = new Map<string, number>();
    this.classOf = new Int32Array(nodes.length);
    this.hotOf = nodes.map((node) =>
      Int32Array.from(node.hotDatasets, (d) => {
        const key = datasetKey(d.id, d.version);
        let ordinal = this.datasetOrdinals.get(key);
        if (ordinal === undefined) {
          ordinal = this.datasetOrdinals.size;
          this.datasetOrdinals.set(key, ordinal);
        }
        return ordinal;
      }),
    );
    nodes.forEach((node, i) => {
      push(pools, node.pool, i);
      // Each once: a tag or dataset listed twice must not list the node twice (refusal counts).
      for (const tag of new Set(node.tags)) push(poolTags, poolTagKey(node.pool, tag), i);
      for (const key of new Set(node.hotDatasets.map((d) => datasetKey(d.id, d.version))))
        push(datasets, key, i);
      const classKey = `${node.pool}\u0000${[...new Set(node.tags)].sort().join("\u0000")}`;
      let id = classIds.get(classKey);
      if (id === undefined) {
        id = this.classTags.length;
        classIds.set(classKey, id);
        this.classTags.push(new Set(node.tags));
      }
      this.classOf[i] = id;
    });
    for (const [k, v] of pools) this.byPool.set(k, Int32Array.from(v));
    for (const [k, v] of poolTags) this.byPoolTag.set(k, Int32Array.from(v));
    for (const [k, v] of datasets) this.byDataset.set(k, Int32Array.from(v));
  }

  /** How many distinct classes of node there are. */
  get classCount(): number {
    return this.classTags.length;
  }

  /** Every node of a pool. */
  pool(pool: Pool): Int32Array {
    return this.byPool.get(pool) ?? EMPTY;
  }

  /** Nodes of a pool that carry a tag. */
  poolTag(pool: Pool, tag: string): Int32Array {
    return this.byPoolTag.get(poolTagKey(pool, tag)) ?? EMPTY;
  }

  /** The smallest list that must contain every node with this pool and all these tags. */
  candidates(pool: Pool, requiredTags: readonly string[]): Int32Array {
    let best = this.pool(pool);
    for (const tag of requiredTags) {
      const list = this.poolTag(pool, tag);
      if (list.length < best.length) best = list;
    }
    return best;
  }

  /** Nodes that hold this dataset hot in RAM. */
  hot(key: string): Int32Array {
    return this.byDataset.get(key) ?? EMPTY;
  }

  /** The ordinal of a dataset key, or -1 if no node holds it hot. */
  datasetOrdinal(key: string): number {
    return this.datasetOrdinals.get(key) ?? -1;
  }

  /** Whether a node holds the dataset of this ordinal hot (a scan of a few entries). */
  isHot(ordinal: number, node: number): boolean {
    if (ordinal < 0) return false;
    const hot = this.hotOf[node];
    if (hot === undefined) return false;
    for (let k = 0; k < hot.length; k++) if (hot[k] === ordinal) return true;
    return false;
  }

  /**
   * Whether a node's class has every tag in `tags`; computed once per class and signature.
   * The memo is a pure cache of immutable facts, so it is safe to share between decisions.
   */
  hasTags(node: number, tags: readonly string[], signature: string): boolean {
    if (tags.length === 0) return true;
    let memo = this.tagMemo.get(signature);
    if (memo === undefined) {
      if (this.tagMemo.size > 4096) this.tagMemo.clear(); // bounded: signatures come from users
      memo = new Int8Array(this.classTags.length);
      this.tagMemo.set(signature, memo);
    }
    const cls = this.classOf[node] ?? 0;
    let known = memo[cls] ?? 0;
    if (known === 0) {
      const have = this.classTags[cls];
      known = have !== undefined && tags.every((t) => have.has(t)) ? 1 : -1;
      memo[cls] = known;
    }
    return known === 1;
  }

  /**
   * The share of the total weight of `preferred` whose tags the node's class carries, in [0, 1];
   * computed once per class and signature.
   */
  preferredShare(
    node: number,
    preferred: readonly { readonly tag: string; readonly weight: number }[],
    signature: string,
  ): number {
    let memo = this.preferredMemo.get(signature);
    if (memo === undefined) {
      if (this.preferredMemo.size > 4096) this.preferredMemo.clear();
      memo = new Float64Array(this.classTags.length).fill(-1);
      this.preferredMemo.set(signature, memo);
    }
    const cls = this.classOf[node] ?? 0;
    let share = memo[cls] ?? -1;
    if (share < 0) {
      const have = this.classTags[cls];
      let total = 0;
      let got = 0;
      for (const p of preferred) {
        total += p.weight;
        if (have?.has(p.tag)) got += p.weight;
      }
      share = total > 0 ? got / total : 0;
      memo[cls] = share;
    }
    return share;
  }
}

function poolTagKey(pool: Pool, tag: string): string {
  return `${pool}\u0000${tag}`;
}

function push<K>(map: Map<K, number[]>, key: K, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
