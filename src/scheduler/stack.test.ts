import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ClusterState } from "./cluster-state.ts";
import { explain } from "./explain.ts";
import { Reason } from "./reasons.ts";
import { compileSchedulerOptions } from "./scheduler-options.ts";
import { schedule, type Decision } from "./stack.ts";
import type { NodeSpec } from "../domain/index.ts";
import type { PlacementRequest } from "./request.ts";
import { node, request } from "./testing/builders.ts";

const ticks = { id: "ticks", version: "1", bytes: 6 * 2 ** 30 };

function placed(d: Decision): string {
  assert.ok(d.ok, d.ok ? "" : d.message);
  return d.nodeId;
}

function mixedCluster(): NodeSpec[] {
  return [
    ...Array.from({ length: 6 }, (_, i) =>
      node(`live-${i}`, "live", { tags: ["live_node", i < 2 ? "region_tokyo" : "region_ny"] }),
    ),
    ...Array.from({ length: 10 }, (_, i) => node(`data-${i}`, "backtest")),
  ];
}

describe("schedule", () => {
  test("a live service goes to a live node and a backtest to a data node", () => {
    const cluster = new ClusterState(mixedCluster());
    assert.match(placed(schedule(cluster, request("live"), { seed: 1 })), /^live-/);
    assert.match(placed(schedule(cluster, request("backtest"), { seed: 1 })), /^data-/);
  });

  test("a pool with no room refuses, even with the other pool empty", () => {
    const cluster = new ClusterState([
      node("live-0", "live", { cores: 2 }),
      node("data-0", "backtest", { cores: 64 }),
    ]);
    const d = schedule(cluster, request("live", { cores: 8 }), { seed: 1 });
    assert.equal(d.ok, false);
    assert.ok(!d.ok);
    assert.deepEqual(d.reasons, [
      { reason: Reason.InsufficientCores, count: 1 },
      { reason: Reason.PoolMismatch, count: 1 },
    ]);
  });

  test("a request that names no pool is refused before any node is looked at", () => {
    const cluster = new ClusterState(mixedCluster());
    const bad = { ...request("live"), pool: undefined } as unknown as PlacementRequest;
    assert.throws(
      () => schedule(cluster, bad, { seed: 1 }),
      /pool: found undefined, expected live or backtest/,
    );
  });

  test("required and preferred tags", () => {
    const cluster = new ClusterState(mixedCluster());
    assert.match(
      placed(schedule(cluster, request("live", { requiredTags: ["region_tokyo"] }), { seed: 3 })),
      /^live-[01]$/,
    );
    for (let seed = 0; seed < 20; seed++) {
      const d = schedule(cluster, request("live", { preferredTags: [{ tag: "region_tokyo", weight: 5 }] }), {
        seed,
      });
      assert.match(placed(d), /^live-[01]$/, `seed ${seed}`);
    }
  });

  test("a backtest goes where its dataset is hot", () => {
    const nodes = mixedCluster().map((n) => (n.id === "data-7" ? { ...n, hotDatasets: [ticks] } : n));
    const cluster = new ClusterState(nodes);
    for (let seed = 0; seed < 20; seed++) {
      assert.equal(placed(schedule(cluster, request("backtest", { datasets: [ticks] }), { seed })), "data-7");
    }
  });

  test("the locality guard: one hot node does not take every backtest", () => {
    // data-0 holds the dataset hot and has room for 8 two-core backtests; without the guard,
    // locality alone would send all of them there.
    const cluster = new ClusterState(
      Array.from({ length: 10 }, (_, i) => node(`data-${i}`, "backtest", { hot: i === 0 ? [ticks] : [] })),
    );
    const where: string[] = [];
    for (let k = 0; k < 10; k++) {
      const r = request("backtest", { key: `bt-${k}`, cores: 2, memoryGiB: 8, datasets: [ticks] });
      const d = schedule(cluster, r, { seed: k });
      where.push(placed(d));
      if (d.ok) cluster.reserve(d.node, r.demand);
    }
    const onHot = where.filter((w) => w === "data-0").length;
    assert.equal(where[0], "data-0", "the first backtest goes to the hot node");
    assert.ok(onHot >= 2 && onHot < 8, `${onHot} of 10 on the hot node: ${where.join(",")}`);
  });

  test("in-flight reservations count: the same small node is not handed out twice", () => {
    const cluster = new ClusterState([
      node("live-0", "live", { cores: 2 }),
      node("live-1", "live", { cores: 2 }),
    ]);
    const r = request("live", { cores: 2 });
    const first = schedule(cluster, r, { seed: 9 });
    assert.ok(first.ok);
    cluster.reserve(first.node, r.demand, true);
    const second = schedule(cluster, r, { seed: 9 });
    assert.ok(second.ok);
    assert.notEqual(second.nodeId, first.nodeId);
    cluster.reserve(second.node, r.demand, true);
    const third = schedule(cluster, r, { seed: 9 });
    assert.equal(third.ok, false);
    assert.ok(!third.ok);
    assert.match(third.message, /2 nodes: not enough cores/);
    // The runner reports the process: the in-flight reservation becomes a running allocation.
    cluster.release(first.node, r.demand, true);
    cluster.reserve(first.node, r.demand, false);
    assert.equal(schedule(cluster, r, { seed: 9 }).ok, false);
    assert.equal(cluster.inFlightCores[first.node], 0);
  });

  test("draining, suspect and down nodes take nothing", () => {
    const cluster = new ClusterState([
      node("a", "live", { draining: true }),
      node("b", "live", { state: "suspect" }),
      node("c", "live", { state: "down" }),
      node("d", "live"),
    ]);
    assert.equal(placed(schedule(cluster, request("live"), { seed: 1 })), "d");
  });

  test("the same state, request and seed give the same node; seeds spread equal nodes", () => {
    const nodes = Array.from({ length: 50 }, (_, i) => node(`data-${i}`, "backtest"));
    const chosen = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const a = placed(schedule(new ClusterState(nodes), request("backtest"), { seed }));
      const b = placed(schedule(new ClusterState(nodes), request("backtest"), { seed }));
      assert.equal(a, b);
      chosen.add(a);
    }
    assert.ok(chosen.size > 10, `only ${chosen.size} distinct nodes over 40 seeds`);
  });

  test("a refusal accounts for every node, the same in both modes", () => {
    const nodes = [
      ...mixedCluster(),
      node("data-small", "backtest", { memoryGiB: 4 }),
      node("data-gpu", "backtest", { tags: ["gpu"] }),
      node("data-down", "backtest", { state: "down" }),
    ];
    const cluster = new ClusterState(nodes);
    const r = request("backtest", { memoryGiB: 32, requiredTags: ["data_node"] });
    // Two 32 GiB reservations fill each 64 GiB data node.
    for (let k = 0; k < 20; k++) cluster.reserve(cluster.indexOf(`data-${k % 10}`), r.demand);
    const indexed = schedule(cluster, r, { seed: 5 });
    const exhaustive = schedule(cluster, r, { seed: 5, mode: "exhaustive" });
    assert.ok(!indexed.ok && !exhaustive.ok);
    assert.deepEqual(indexed.reasons, exhaustive.reasons);
    assert.equal(
      indexed.message,
      "11 nodes: not enough memory; 6: pool mismatch; 1: missing a required tag; 1: node not ready",
    );
    assert.equal(
      indexed.reasons.reduce((s, r) => s + r.count, 0),
      nodes.length,
    );
  });

  test("a tag a node lists twice counts it once, the same in both modes", () => {
    const nodes = [
      node("a", "live", { tags: ["live_node", "gpu", "gpu"], memoryGiB: 1 }),
      node("b", "live", { tags: ["live_node"] }),
      node("c", "live", { tags: ["live_node"] }),
      node("d", "live", { tags: ["live_node", "gpu"], memoryGiB: 1 }),
    ];
    const cluster = new ClusterState(nodes);
    const r = request("live", { memoryGiB: 8, requiredTags: ["gpu"] });
    const indexed = schedule(cluster, r, { seed: 1 });
    const exhaustive = schedule(cluster, r, { seed: 1, mode: "exhaustive" });
    assert.ok(!indexed.ok && !exhaustive.ok);
    assert.equal(indexed.message, "2 nodes: not enough memory; 2: missing a required tag");
    assert.deepEqual(indexed.reasons, exhaustive.reasons);
  });

  test("explain names a reason per node and sums them up", () => {
    const nodes = [
      node("live-0", "live"),
      node("data-hot", "backtest", { hot: [ticks] }),
      node("data-cold-1", "backtest"),
      node("data-cold-2", "backtest"),
      node("data-tiny", "backtest", { memoryGiB: 1 }),
    ];
    const e = explain(new ClusterState(nodes), request("backtest", { memoryGiB: 8, datasets: [ticks] }), {
      seed: 1,
    });
    assert.ok(e.decision.ok);
    assert.equal(e.decision.nodeId, "data-hot");
    assert.equal(
      e.summary,
      "2 nodes: dataset not hot, lower score; 1: chosen; 1: not enough memory; 1: pool mismatch",
    );
    const tiny = e.nodes.find((n) => n.nodeId === "data-tiny");
    assert.deepEqual(tiny && tiny.verdict === "refused" && [tiny.reason, tiny.detail], [
      Reason.InsufficientMemory,
      "needs 8 GiB; 1 GiB free of 1 GiB",
    ]);
    assert.equal(e.nodes[0]?.nodeId, "data-hot");
  });

  test("indexed mode scores a bounded number of nodes; exhaustive scores them all", () => {
    const cluster = new ClusterState(Array.from({ length: 2000 }, (_, i) => node(`data-${i}`, "backtest")));
    const options = compileSchedulerOptions();
    const indexed = schedule(cluster, request("backtest"), { seed: 1, options });
    const exhaustive = schedule(cluster, request("backtest"), { seed: 1, options, mode: "exhaustive" });
    assert.ok(indexed.ok && exhaustive.ok);
    assert.equal(indexed.scored, options.scoreLimit.backtest);
    assert.equal(exhaustive.scored, 2000);
  });
});
