/**
 * npm run bench:scheduler [-- --json] [--placements N] [--baseline N] [--sizes 1000,5000,10000]
 *
 * Places a stream of mixed backtest and live requests on synthetic clusters of 1,000, 5,000 and
 * 10,000 nodes, committing each placement as an in-flight reservation and releasing the oldest
 * once the cluster is about 70% committed (so it neither empties nor fills). The indexed stack
 * (the real scheduler) and the exhaustive baseline (the same rules, every node scanned and
 * scored) run the same request stream side by side in this one process on one core; the
 * baseline runs fewer placements because it is slow, which per-decision figures make comparable.
 * Quality: on a sample of decisions, the indexed choice's score over the best score of any node.
 */
import { performance } from "node:perf_hooks";
import {
  ClusterState,
  compileSchedulerOptions,
  makeContext,
  Overlay,
  schedule,
  scoreNode,
} from "../src/scheduler/index.ts";
import type { PlacementRequest } from "../src/scheduler/index.ts";
import { syntheticCluster, syntheticRequests } from "./synthetic-cluster.ts";
import { percentile } from "./stats.ts";

interface Args {
  json: boolean;
  placements: number;
  baseline: number;
  sizes: number[];
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { json: false, placements: 50_000, baseline: 2_000, sizes: [1_000, 5_000, 10_000] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => Number(argv[++i]);
    if (a === "--json") args.json = true;
    else if (a === "--placements") args.placements = next();
    else if (a === "--baseline") args.baseline = next();
    else if (a === "--sizes") args.sizes = (argv[++i] ?? "").split(",").map(Number);
    else throw new Error(`unknown argument ${a}; see the comment at the top of bench/scheduler.bench.ts`);
  }
  return args;
}

interface RunFigures {
  placements: number;
  refused: number;
  placementsPerSec: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  meanVisited: number;
}

function run(
  size: number,
  requests: readonly PlacementRequest[],
  count: number,
  mode: "indexed" | "exhaustive",
) {
  const cluster = new ClusterState(syntheticCluster(size));
  // Churn per pool: once a pool is 70% committed (cores or memory), its oldest work finishes.
  const pools = new Map(
    (["live", "backtest"] as const).map((pool) => {
      let cores = 0;
      let memory = 0;
      cluster.nodes.forEach((n) => {
        if (n.pool === pool) {
          cores += n.capacity.cores;
          memory += n.capacity.memoryBytes;
        }
      });
      return [
        pool,
        {
          cores,
          memory,
          usedCores: 0,
          usedMemory: 0,
          queue: [] as { node: number; r: PlacementRequest }[],
          head: 0,
        },
      ];
    }),
  );
  const times = new Float64Array(count);
  let refused = 0;
  let visited = 0;
  const started = performance.now();
  for (let k = 0; k < count; k++) {
    const r = requests[k % requests.length] as PlacementRequest;
    const t0 = performance.now();
    const d = schedule(cluster, r, { seed: k, mode });
    times[k] = performance.now() - t0;
    const p = pools.get(r.pool);
    if (!p) continue;
    if (d.ok) {
      visited += d.visited;
      cluster.reserve(d.node, r.demand, true);
      p.queue.push({ node: d.node, r });
      p.usedCores += r.demand.exclusiveCores || r.demand.cores;
      p.usedMemory += r.demand.memoryBytes;
    } else {
      refused++;
    }
    while ((p.usedCores > 0.7 * p.cores || p.usedMemory > 0.7 * p.memory) && p.head < p.queue.length) {
      const old = p.queue[p.head++];
      if (!old) break;
      cluster.release(old.node, old.r.demand, true);
      p.usedCores -= old.r.demand.exclusiveCores || old.r.demand.cores;
      p.usedMemory -= old.r.demand.memoryBytes;
    }
  }
  const elapsed = performance.now() - started;
  times.sort();
  const figures: RunFigures = {
    placements: count,
    refused,
    placementsPerSec: Math.round(count / (elapsed / 1000)),
    p50Us: round(percentile(times, 0.5) * 1000),
    p99Us: round(percentile(times, 0.99) * 1000),
    maxUs: round((times[times.length - 1] ?? 0) * 1000),
    meanVisited: round(visited / Math.max(1, count - refused)),
  };
  return { figures, cluster };
}

/** On a sample of requests against one cluster state: indexed choice's score ÷ best score. */
function quality(size: number, requests: readonly PlacementRequest[], samples: number) {
  const cluster = new ClusterState(syntheticCluster(size));
  const options = compileSchedulerOptions();
  let ratio = 0;
  let same = 0;
  let n = 0;
  for (let k = 0; k < samples; k++) {
    const r = requests[k] as PlacementRequest;
    const a = schedule(cluster, r, { seed: k, options });
    const b = schedule(cluster, r, { seed: k, options, mode: "exhaustive" });
    if (!a.ok || !b.ok) continue;
    const ctx = makeContext(cluster, r, options, new Overlay());
    ratio += scoreNode(ctx, a.node) / scoreNode(ctx, b.node);
    if (a.node === b.node) same++;
    n++;
  }
  return {
    sampled: n,
    meanScoreRatio: round(ratio / Math.max(1, n), 4),
    sameNodePct: round((100 * same) / Math.max(1, n)),
  };
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const args = parseArgs(process.argv.slice(2));
const results = [];
for (const size of args.sizes) {
  const nodes = syntheticCluster(size);
  const requests = syntheticRequests(
    args.placements,
    nodes.filter((n) => n.pool === "live").map((n) => n.id),
  );
  run(size, requests, Math.min(5_000, args.placements), "indexed"); // warm the JIT
  const indexed = run(size, requests, args.placements, "indexed").figures;
  const exhaustive = run(size, requests, args.baseline, "exhaustive").figures;
  results.push({
    nodes: size,
    indexed,
    exhaustive,
    speedup: round(indexed.placementsPerSec / exhaustive.placementsPerSec),
    quality: quality(size, requests, 500),
  });
}

const report = {
  benchmark: "scheduler",
  node: process.version,
  placementsPerRun: args.placements,
  baselinePlacementsPerRun: args.baseline,
  targets: { placementsPerSecAt5000: 25_000, p99UsAt10000: 1_000 },
  results,
};

if (args.json) {
  console.log(JSON.stringify(report));
} else {
  const rows = results.map((r) => ({
    nodes: r.nodes.toLocaleString("en-US"),
    "indexed /s": r.indexed.placementsPerSec.toLocaleString("en-US"),
    "indexed p50 µs": r.indexed.p50Us,
    "indexed p99 µs": r.indexed.p99Us,
    "naive /s": r.exhaustive.placementsPerSec.toLocaleString("en-US"),
    "naive p50 µs": r.exhaustive.p50Us,
    "naive p99 µs": r.exhaustive.p99Us,
    speedup: `${r.speedup}×`,
    "nodes visited": r.indexed.meanVisited,
    refused: r.indexed.refused,
    "score vs best": r.quality.meanScoreRatio,
  }));
  console.log(
    `scheduler: ${args.placements.toLocaleString("en-US")} placements per size (naive baseline: ${args.baseline.toLocaleString("en-US")}), one core, ${process.version}`,
  );
  console.table(rows);
  console.log("targets: ≥ 25,000 placements/s at 5,000 nodes; p99 ≤ 1,000 µs at 10,000 nodes");
}
