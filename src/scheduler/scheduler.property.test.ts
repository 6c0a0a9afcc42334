import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { ClusterState } from "./cluster-state.ts";
import { makeContext, Overlay } from "./eval-context.ts";
import { placeLayout, type ServiceToPlace } from "./place-layout.ts";
import type { PlacementRequest } from "./request.ts";
import { compileSchedulerOptions } from "./scheduler-options.ts";
import { firstFailing, schedule } from "./stack.ts";
import { DEFAULT_LINK_BANDWIDTH, type NodeSpec } from "../domain/index.ts";

const GiB = 2 ** 30;
const TAGS = ["data_node", "ram_128gb", "live_node", "low_latency", "region_tokyo", "region_ny", "gpu"];
const DATASETS = ["es", "nq", "cl"];
const pools = fc.constantFrom("live" as const, "backtest" as const);

const nodeArb = (id: string): fc.Arbitrary<NodeSpec> =>
  fc
    .record({
      pool: pools,
      tags: fc.subarray(TAGS),
      cores: fc.integer({ min: 1, max: 32 }),
      memoryGiB: fc.integer({ min: 1, max: 128 }),
      pinnable: fc.double({ min: 0, max: 1, noNaN: true }),
      ports: fc.integer({ min: 0, max: 8 }),
      hot: fc.subarray(DATASETS),
      cpu: fc.double({ min: 0, max: 1, noNaN: true }),
      state: fc.constantFrom<NodeSpec["state"]>("ready", "ready", "ready", "ready", "suspect", "down"),
      draining: fc.integer({ min: 0, max: 4 }).map((x) => x === 0),
    })
    .map((r) => ({
      id,
      pool: r.pool,
      tags: r.tags,
      capacity: {
        cores: r.cores,
        memoryBytes: r.memoryGiB * GiB,
        exclusiveCores: Math.floor(r.pinnable * (r.cores - 1)),
      },
      portRange: { first: 20000, last: 20000 + r.ports - 1 },
      hotDatasets: r.hot.map((d) => ({ id: d, version: "1", bytes: 4 * GiB })),
      load: { cpu: r.cpu, memoryUsedBytes: 0 },
      state: r.state,
      draining: r.draining,
      linkBandwidthBytesPerSec: DEFAULT_LINK_BANDWIDTH,
    }));

const clusterArb = fc
  .integer({ min: 0, max: 40 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(`n${i}`))));

const requestArb: fc.Arbitrary<PlacementRequest> = fc
  .record({
    pool: pools,
    cores: fc.double({ min: 0.1, max: 12, noNaN: true }),
    memoryGiB: fc.double({ min: 0.1, max: 48, noNaN: true }),
    pin: fc.integer({ min: 0, max: 4 }),
    ports: fc.integer({ min: 0, max: 3 }),
    required: fc.subarray(TAGS, { maxLength: 2 }),
    preferred: fc.subarray(TAGS, { maxLength: 2 }),
    weight: fc.integer({ min: 1, max: 10 }),
    datasets: fc.subarray(DATASETS, { maxLength: 2 }),
    avoid: fc.subarray(["n0", "n1", "n2"]),
    key: fc.string({ maxLength: 8 }),
  })
  .map((r) => {
    const pin = r.pool === "live" ? r.pin : 0;
    return {
      key: r.key,
      pool: r.pool,
      demand: {
        cores: pin > 0 ? Math.min(r.cores, pin) : r.cores,
        memoryBytes: Math.ceil(r.memoryGiB * GiB),
        exclusiveCores: pin,
        ports: r.ports,
      },
      requiredTags: r.required,
      preferredTags: r.preferred.map((tag) => ({ tag, weight: r.weight })),
      datasets: r.datasets.map((id) => ({ id, version: "1", bytes: 4 * GiB })),
      avoidNodes: r.avoid,
    };
  });

const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const RUNS = { numRuns: 300 };

function assertWithinCapacity(cluster: ClusterState): void {
  for (let i = 0; i < cluster.size; i++) {
    const id = cluster.nodes[i]?.id;
    assert.ok(
      (cluster.usedCores[i] ?? 0) <= (cluster.capCores[i] ?? 0) + 1e-6,
      `cores over-committed on ${id}`,
    );
    assert.ok(
      (cluster.usedMemory[i] ?? 0) <= (cluster.capMemory[i] ?? 0) + 1e-6,
      `memory over-committed on ${id}`,
    );
    assert.ok(
      (cluster.usedExclusive[i] ?? 0) <= (cluster.capExclusive[i] ?? 0),
      `pinned cores over on ${id}`,
    );
    assert.ok((cluster.usedPorts[i] ?? 0) <= (cluster.capPorts[i] ?? 0), `ports over on ${id}`);
  }
}

describe("scheduler properties", () => {
  test("a live service is never placed in the backtest pool, nor a backtest in the live pool", () => {
    fc.assert(
      fc.property(clusterArb, fc.array(requestArb, { maxLength: 20 }), seedArb, (nodes, requests, seed) => {
        const cluster = new ClusterState(nodes);
        for (const r of requests) {
          for (const mode of ["indexed", "exhaustive"] as const) {
            const d = schedule(cluster, r, { seed, mode });
            if (d.ok) assert.equal(nodes[d.node]?.pool, r.pool);
          }
        }
      }),
      RUNS,
    );
  });

  test("capacity is never over-committed, however many placements are committed", () => {
    fc.assert(
      fc.property(clusterArb, fc.array(requestArb, { maxLength: 40 }), seedArb, (nodes, requests, seed) => {
        const cluster = new ClusterState(nodes);
        for (const r of requests) {
          const d = schedule(cluster, r, { seed });
          if (d.ok) cluster.reserve(d.node, r.demand, true);
        }
        assertWithinCapacity(cluster);
      }),
      RUNS,
    );
  });

  test("placement is deterministic for a seed", () => {
    fc.assert(
      fc.property(clusterArb, requestArb, seedArb, (nodes, r, seed) => {
        const a = schedule(new ClusterState(nodes), r, { seed });
        const b = schedule(new ClusterState(nodes), r, { seed });
        assert.deepEqual(a, b);
      }),
      RUNS,
    );
  });

  test("with no limits, the indexed mode decides exactly as the exhaustive scan", () => {
    const options = compileSchedulerOptions({
      scoreLimit: { live: Infinity, backtest: Infinity },
      priorityLimit: Infinity,
    });
    fc.assert(
      fc.property(clusterArb, requestArb, seedArb, (nodes, r, seed) => {
        const cluster = new ClusterState(nodes);
        const a = schedule(cluster, r, { seed, options });
        const b = schedule(cluster, r, { seed, options, mode: "exhaustive" });
        assert.equal(a.ok, b.ok);
        if (a.ok && b.ok) assert.equal(a.nodeId, b.nodeId);
        if (!a.ok && !b.ok) assert.deepEqual(a.reasons, b.reasons);
      }),
      RUNS,
    );
  });

  test("with default limits, the indexed mode finds a node whenever one exists, and it is feasible", () => {
    fc.assert(
      fc.property(clusterArb, requestArb, seedArb, (nodes, r, seed) => {
        const cluster = new ClusterState(nodes);
        const a = schedule(cluster, r, { seed });
        const b = schedule(cluster, r, { seed, mode: "exhaustive" });
        assert.equal(a.ok, b.ok);
        if (a.ok) {
          const ctx = makeContext(cluster, r, compileSchedulerOptions(), new Overlay());
          assert.equal(firstFailing(ctx, a.node), undefined);
        } else if (!b.ok) {
          assert.deepEqual(a.reasons, b.reasons);
          assert.equal(
            a.reasons.reduce((s, x) => s + x.count, 0),
            nodes.length,
          );
        }
      }),
      RUNS,
    );
  });

  test("a layout is placed all or nothing, within capacity, standbys apart from their active", () => {
    const serviceArb = fc
      .tuple(requestArb, fc.integer({ min: 0, max: 2 }))
      .map(([request, standby]): ServiceToPlace => ({
        service: "renamed below",
        request,
        standby: request.pool === "live" ? standby : 0,
      }));
    fc.assert(
      fc.property(
        clusterArb,
        fc.array(serviceArb, { minLength: 1, maxLength: 6 }),
        seedArb,
        (nodes, raw, seed) => {
          const services = raw.map((s, k) => ({ ...s, service: `s${k}` }));
          const cluster = new ClusterState(nodes);
          const before = Float64Array.from(cluster.usedCores);
          const d = placeLayout(cluster, services, { seed });
          assert.deepEqual(cluster.usedCores, before, "placeLayout must not change the cluster it reads");
          if (!d.ok) return;
          const expected = services.reduce((n, s) => n + 1 + s.standby, 0);
          assert.equal(d.placements.length, expected);
          for (const p of d.placements) cluster.reserve(p.node, p.demand);
          assertWithinCapacity(cluster);
          for (const s of services) {
            const where: string[] = d.placements.filter((p) => p.service === s.service).map((p) => p.nodeId);
            assert.equal(new Set(where).size, where.length, `instances of ${s.service} share a node`);
          }
        },
      ),
      RUNS,
    );
  });
});
