import assert from "node:assert/strict";
import { describe, test } from "node:test";
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
import { ClusterState, type Allocation } from "./cluster-state.ts";
import { makeContext, Overlay } from "./eval-context.ts";
import { compileSchedulerOptions } from "./scheduler-options.ts";
import type { NodeSpec } from "../domain/index.ts";
import type { PlacementRequest } from "./request.ts";
import { GiB, node, request } from "./testing/builders.ts";

interface Case {
  readonly name: string;
  readonly checker: FeasibilityChecker;
  readonly node: NodeSpec;
  readonly request: PlacementRequest;
  readonly allocations?: readonly Allocation[];
  readonly overlay?: Parameters<Overlay["add"]>[1];
  readonly feasible: boolean;
  /** A fragment the explanation must contain when the node is refused. */
  readonly explains?: RegExp;
}

const options = compileSchedulerOptions();
const reserve = (
  nodeId: string,
  cores: number,
  memoryGiB: number,
  inFlight: boolean,
  more = {},
): Allocation => ({
  nodeId,
  inFlight,
  demand: { cores, memoryBytes: memoryGiB * GiB, exclusiveCores: 0, ports: 0, ...more },
});

const cases: Case[] = [
  // Pool partition: default-deny, from the node's side.
  {
    name: "live node takes a live service",
    checker: poolChecker,
    node: node("l", "live"),
    request: request("live"),
    feasible: true,
  },
  {
    name: "live node refuses a backtest",
    checker: poolChecker,
    node: node("l", "live"),
    request: request("backtest"),
    feasible: false,
    explains: /live pool.*backtest pool/,
  },
  {
    name: "data node refuses a live service",
    checker: poolChecker,
    node: node("d", "backtest"),
    request: request("live"),
    feasible: false,
  },
  // Required tags.
  {
    name: "node with every required tag",
    checker: requiredTagsChecker,
    node: node("l", "live", { tags: ["live_node", "low_latency"] }),
    request: request("live", { requiredTags: ["low_latency", "live_node"] }),
    feasible: true,
  },
  {
    name: "node missing one required tag",
    checker: requiredTagsChecker,
    node: node("l", "live", { tags: ["live_node"] }),
    request: request("live", { requiredTags: ["live_node", "region_tokyo"] }),
    feasible: false,
    explains: /missing tag\(s\) region_tokyo/,
  },
  // Node health.
  {
    name: "ready node",
    checker: readyChecker,
    node: node("l", "live"),
    request: request("live"),
    feasible: true,
  },
  {
    name: "suspect node",
    checker: readyChecker,
    node: node("l", "live", { state: "suspect" }),
    request: request("live"),
    feasible: false,
    explains: /suspect/,
  },
  {
    name: "down node",
    checker: readyChecker,
    node: node("l", "live", { state: "down" }),
    request: request("live"),
    feasible: false,
  },
  {
    name: "draining node",
    checker: drainingChecker,
    node: node("l", "live", { draining: true }),
    request: request("live"),
    feasible: false,
    explains: /draining/,
  },
  // Standby anti-affinity.
  {
    name: "standby avoids its active's node",
    checker: antiAffinityChecker,
    node: node("l1", "live"),
    request: request("live", { avoidNodes: ["l1"] }),
    feasible: false,
    explains: /active instance/,
  },
  {
    name: "standby on another node",
    checker: antiAffinityChecker,
    node: node("l2", "live"),
    request: request("live", { avoidNodes: ["l1"] }),
    feasible: true,
  },
  // Cores, counting in-flight reservations.
  {
    name: "cores fit exactly",
    checker: coresChecker,
    node: node("n", "backtest", { cores: 4 }),
    request: request("backtest", { cores: 4 }),
    feasible: true,
  },
  {
    name: "cores over capacity",
    checker: coresChecker,
    node: node("n", "backtest", { cores: 4 }),
    request: request("backtest", { cores: 4.5 }),
    feasible: false,
  },
  {
    name: "in-flight reservation counts against cores",
    checker: coresChecker,
    node: node("n", "backtest", { cores: 4 }),
    allocations: [reserve("n", 3, 1, true)],
    request: request("backtest", { cores: 2 }),
    feasible: false,
    explains: /needs 2 core\(s\); 1 free of 4 \(3 committed, 3 of it reserved in flight\)/,
  },
  {
    name: "fractional cores add up without float error",
    checker: coresChecker,
    node: node("n", "backtest", { cores: 0.3 }),
    allocations: [reserve("n", 0.1, 0, false)],
    request: request("backtest", { cores: 0.2 }),
    feasible: true,
  },
  {
    name: "pinned cores count as whole cores taken",
    checker: coresChecker,
    node: node("n", "live", { cores: 4 }),
    allocations: [reserve("n", 1, 0, false, { exclusiveCores: 3 })],
    request: request("live", { cores: 1.5 }),
    feasible: false,
  },
  {
    name: "tentative placement of the same layout counts",
    checker: coresChecker,
    node: node("n", "backtest", { cores: 4 }),
    overlay: { cores: 3, memoryBytes: 0, exclusiveCores: 0, ports: 0 },
    request: request("backtest", { cores: 2 }),
    feasible: false,
  },
  // Exclusive cores.
  {
    name: "pinnable cores available",
    checker: exclusiveCoresChecker,
    node: node("n", "live", { cores: 4, exclusiveCores: 3 }),
    request: request("live", { cores: 2, exclusiveCores: 3 }),
    feasible: true,
  },
  {
    name: "pinnable cores exhausted",
    checker: exclusiveCoresChecker,
    node: node("n", "live", { cores: 8, exclusiveCores: 3 }),
    allocations: [reserve("n", 2, 0, false, { exclusiveCores: 2 })],
    request: request("live", { cores: 2, exclusiveCores: 2 }),
    feasible: false,
    explains: /needs 2 pinned core\(s\); 1 of 3 pinnable free/,
  },
  {
    name: "no pinned cores asked: always fine",
    checker: exclusiveCoresChecker,
    node: node("n", "live", { exclusiveCores: 0 }),
    request: request("live"),
    feasible: true,
  },
  // Memory.
  {
    name: "memory fits",
    checker: memoryChecker,
    node: node("n", "backtest", { memoryGiB: 8 }),
    request: request("backtest", { memoryGiB: 8 }),
    feasible: true,
  },
  {
    name: "memory taken by an in-flight reservation",
    checker: memoryChecker,
    node: node("n", "backtest", { memoryGiB: 8 }),
    allocations: [reserve("n", 1, 6, true)],
    request: request("backtest", { memoryGiB: 4 }),
    feasible: false,
    explains: /needs 4 GiB; 2 GiB free of 8 GiB, 6 GiB of it reserved in flight/,
  },
  // Ports.
  {
    name: "ports available",
    checker: portsChecker,
    node: node("n", "live", { portRange: { first: 30000, last: 30001 } }),
    request: request("live", { ports: 2 }),
    feasible: true,
  },
  {
    name: "port range exhausted",
    checker: portsChecker,
    node: node("n", "live", { portRange: { first: 30000, last: 30001 } }),
    allocations: [reserve("n", 0.1, 0, false, { ports: 1 })],
    request: request("live", { ports: 2 }),
    feasible: false,
    explains: /needs 2 port\(s\); 1 of 2 free/,
  },
];

describe("feasibility checkers", () => {
  for (const c of cases) {
    test(c.name, () => {
      const cluster = new ClusterState([c.node], c.allocations ?? []);
      const overlay = new Overlay();
      if (c.overlay) overlay.add(0, c.overlay);
      const ctx = makeContext(cluster, c.request, options, overlay);
      assert.equal(c.checker.feasible(ctx, 0), c.feasible);
      if (c.explains) assert.match(c.checker.explain(ctx, 0), c.explains);
    });
  }
});
