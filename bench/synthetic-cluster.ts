/**
 * Realistic synthetic clusters and request streams for the scheduler benchmark: a live pool of
 * low-latency nodes in three regions and a larger backtest pool of big-RAM data nodes, with real
 * load, a few unhealthy or draining nodes, and datasets whose popularity follows a Zipf law.
 */
import { seededRandom } from "../src/core/seeded-random.ts";
import type { NodeSpec } from "../src/domain/index.ts";
import type { PlacementRequest } from "../src/scheduler/index.ts";

const GiB = 2 ** 30;
const REGIONS = ["region_tokyo", "region_ny", "region_ldn"];

/** Dataset ids and sizes: 200 datasets of 1 to 50 GiB. */
export function datasets(count = 200): { id: string; version: string; bytes: number }[] {
  const rand = seededRandom(7);
  return Array.from({ length: count }, (_, i) => ({
    id: `ds-${i}`,
    version: "1",
    bytes: Math.round((1 + rand() * 49) * GiB),
  }));
}

function zipf(rand: () => number, n: number): number {
  // Inverse-CDF sampling of a Zipf(1) law over n items: popular datasets are hot on many nodes.
  const h = Math.log(n) + 0.5772;
  const target = rand() * h;
  let sum = 0;
  for (let k = 1; k <= n; k++) {
    sum += 1 / k;
    if (sum >= target) return k - 1;
  }
  return n - 1;
}

/** A cluster of `size` nodes, 15% live, 85% backtest. */
export function syntheticCluster(size: number, seed = 1): NodeSpec[] {
  const rand = seededRandom(seed);
  const catalogue = datasets();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  return Array.from({ length: size }, (_, i): NodeSpec => {
    const live = rand() < 0.15;
    const roll = rand();
    const state = roll < 0.005 ? "down" : roll < 0.01 ? "suspect" : "ready";
    if (live) {
      const cores = pick([16, 24, 32]);
      return {
        id: `live-${i}`,
        pool: "live",
        tags: [
          "live_node",
          pick(REGIONS),
          ...(rand() < 0.5 ? ["low_latency"] : []),
          ...(rand() < 0.2 ? ["colo_a"] : []),
        ],
        capacity: { cores, memoryBytes: pick([64, 128]) * GiB, exclusiveCores: cores - 2 },
        portRange: { first: 20000, last: 20000 + 199 },
        hotDatasets: [],
        load: { cpu: rand() * 0.6, memoryUsedBytes: 0 },
        state,
        draining: rand() < 0.01,
        linkBandwidthBytesPerSec: 1.25e9,
      };
    }
    const ram = pick([128, 256, 512]);
    const hot = new Map<string, { id: string; version: string; bytes: number }>();
    const hotCount = Math.floor(rand() * 5);
    for (let k = 0; k < hotCount; k++) {
      const d = catalogue[zipf(rand, catalogue.length)];
      if (d) hot.set(d.id, d);
    }
    return {
      id: `data-${i}`,
      pool: "backtest",
      tags: ["data_node", `ram_${ram}gb`, ...(rand() < 0.3 ? ["nvme"] : []), pick(REGIONS)],
      capacity: { cores: pick([32, 48, 64]), memoryBytes: ram * GiB, exclusiveCores: 0 },
      portRange: { first: 30000, last: 30000 + 99 },
      hotDatasets: [...hot.values()],
      load: { cpu: rand() * 0.9, memoryUsedBytes: 0 },
      state,
      draining: rand() < 0.01,
      linkBandwidthBytesPerSec: pick([1.25e9, 1.25e9, 3.125e9]),
    };
  });
}

/** `count` requests, 80% backtests and 20% live services, some live ones standbys. */
export function syntheticRequests(
  count: number,
  liveNodeIds: readonly string[],
  seed = 2,
): PlacementRequest[] {
  const rand = seededRandom(seed);
  const catalogue = datasets();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  return Array.from({ length: count }, (_, k): PlacementRequest => {
    if (rand() < 0.8) {
      const ds = [catalogue[zipf(rand, catalogue.length)]];
      if (rand() < 0.3) ds.push(catalogue[zipf(rand, catalogue.length)]);
      return {
        key: `bt-${k}`,
        pool: "backtest",
        demand: {
          cores: pick([1, 2, 4, 8]),
          memoryBytes: pick([8, 16, 32, 64]) * GiB,
          exclusiveCores: 0,
          ports: 1,
        },
        requiredTags: rand() < 0.2 ? ["data_node", "ram_512gb"] : ["data_node"],
        preferredTags: rand() < 0.3 ? [{ tag: "nvme", weight: 2 }] : [],
        datasets: ds.filter((d) => d !== undefined),
        avoidNodes: [],
      };
    }
    const pinned = rand() < 0.6 ? pick([1, 2]) : 0;
    return {
      key: `live-${k}`,
      pool: "live",
      demand: {
        cores: pinned > 0 ? pinned : pick([0.5, 1, 2]),
        memoryBytes: pick([1, 2, 4]) * GiB,
        exclusiveCores: pinned,
        ports: 2,
      },
      requiredTags: ["live_node", pick(REGIONS)],
      preferredTags: rand() < 0.5 ? [{ tag: "low_latency", weight: 3 }] : [],
      datasets: [],
      // A standby: avoid the node of its active.
      avoidNodes: rand() < 0.3 && liveNodeIds.length > 0 ? [pick(liveNodeIds)] : [],
    };
  });
}
