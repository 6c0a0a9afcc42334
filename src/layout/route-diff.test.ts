import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { readLayoutFile } from "./read-layout-file.ts";
import { applyRouteUpdate, applyRoutesDiff, diffRoutes, type RouteUpdate } from "./route-diff.ts";
import {
  computeRoutes,
  sameRoute,
  sortTables,
  type DeploymentInstance,
  type Route,
  type RoutingTables,
} from "./routing.ts";

const live = readLayoutFile(
  fileURLToPath(new URL("../../test/fixtures/live-gateway-service.yaml", import.meta.url)),
);
const FEED = "tcp://10.0.0.1:7001";
const GATE = "tcp://10.0.0.4:7100";

/** The live example: feeder n1, momentum active n2 and standby n3, gateway n4. */
const placed: DeploymentInstance[] = [
  {
    deploymentId: "d-feed",
    service: "feeder",
    role: "active",
    nodeId: "n1",
    addresses: { market_data: FEED },
  },
  { deploymentId: "d-mom-a", service: "momentum", role: "active", nodeId: "n2", addresses: {} },
  { deploymentId: "d-mom-s", service: "momentum", role: "standby", nodeId: "n3", addresses: {} },
  { deploymentId: "d-gate", service: "gateway", role: "active", nodeId: "n4", addresses: { orders: GATE } },
];

const routes = (instances: DeploymentInstance[]) => computeRoutes(live, instances, { runDir: "/run/hive" });

/** The instances with one of them changed. */
function moved(id: string, change: Partial<DeploymentInstance>): DeploymentInstance[] {
  return placed.map((i) => (i.deploymentId === id ? { ...i, ...change } : i));
}

/** A compact view of a diff: node → upserted `id/socket→remotes` and removed `id/socket`. */
function summary(diff: ReadonlyMap<string, RouteUpdate>) {
  return Object.fromEntries(
    [...diff].map(([node, u]) => [
      node,
      {
        upserts: u.upserts.map((r) => `${r.deploymentId}/${r.socket}→${r.remotes.join(",")}`),
        removals: u.removals.map((r) => `${r.deploymentId}/${r.socket}`),
      },
    ]),
  );
}

describe("diffRoutes", () => {
  it("is empty for identical tables", () => {
    assert.equal(diffRoutes(routes(placed), routes(placed)).size, 0);
  });

  it("after the feeder moves, updates only the nodes of its consumers", () => {
    const NEW = "tcp://10.0.0.5:7002";
    const before = routes(placed);
    const after = routes(moved("d-feed", { nodeId: "n5", addresses: { market_data: NEW } }));
    const diff = diffRoutes(before, after);
    // n1 (old feeder node), n5 (new one) and n4 (gateway) hear nothing; orders routes are untouched.
    assert.deepEqual(summary(diff), {
      n2: { upserts: [`d-mom-a/market_data→${NEW}`], removals: [] },
      n3: { upserts: [`d-mom-s/market_data→${NEW}`], removals: [] },
    });
    assert.deepEqual(applyRoutesDiff(before, diff), after);
  });

  it("after the feeder moves onto a consumer's node, only consumers' nodes are updated", () => {
    const NEW = "tcp://10.0.0.2:7001";
    const diff = diffRoutes(
      routes(placed),
      routes(moved("d-feed", { nodeId: "n2", addresses: { market_data: NEW } })),
    );
    assert.deepEqual([...diff.keys()], ["n2", "n3"]);
  });

  it("after the gateway moves, only the orders routes change", () => {
    const NEW = "tcp://10.0.0.6:7100";
    const diff = diffRoutes(
      routes(placed),
      routes(moved("d-gate", { nodeId: "n6", addresses: { orders: NEW } })),
    );
    assert.deepEqual(summary(diff), {
      n2: { upserts: [`d-mom-a/orders→${NEW}`], removals: [] },
      n3: { upserts: [`d-mom-s/orders→${NEW}`], removals: [] },
    });
  });

  it("after a consumer moves, removes its routes on the old node and adds them on the new", () => {
    const before = routes(placed);
    const after = routes(moved("d-mom-a", { nodeId: "n6" }));
    const diff = diffRoutes(before, after);
    assert.deepEqual(summary(diff), {
      n2: { upserts: [], removals: ["d-mom-a/market_data", "d-mom-a/orders"] },
      n6: { upserts: [`d-mom-a/market_data→${FEED}`, `d-mom-a/orders→${GATE}`], removals: [] },
    });
    assert.deepEqual(applyRoutesDiff(before, diff), after);
  });

  it("after a consumer is replaced on its node by a new deployment, swaps its routes there", () => {
    const diff = diffRoutes(routes(placed), routes(moved("d-mom-s", { deploymentId: "d-mom-s2" })));
    assert.deepEqual(summary(diff), {
      n3: {
        upserts: [`d-mom-s2/market_data→${FEED}`, `d-mom-s2/orders→${GATE}`],
        removals: ["d-mom-s/market_data", "d-mom-s/orders"],
      },
    });
  });

  it("after a promotion (roles swapped), changes no routes", () => {
    const promoted = placed.map((i) =>
      i.service === "momentum"
        ? { ...i, role: i.role === "active" ? ("standby" as const) : ("active" as const) }
        : i,
    );
    assert.equal(diffRoutes(routes(placed), routes(promoted)).size, 0);
  });
});

describe("applyRouteUpdate", () => {
  const route = (id: string, socket: string, remotes: string[]): Route => ({
    deploymentId: id,
    socket,
    pattern: "sub",
    local: `ipc:///run/hive/strategies/${id}/${socket}`,
    remotes,
  });

  it("removes, replaces and inserts, keeping the order sorted", () => {
    const current = [route("a", "md", ["x"]), route("b", "md", ["x"]), route("c", "md", ["x"])];
    const next = applyRouteUpdate(current, {
      upserts: [route("d", "md", ["y"]), route("a", "md", ["y"]), route("a", "aa", [])],
      removals: [{ deploymentId: "b", socket: "md" }],
    });
    assert.deepEqual(next, [
      route("a", "aa", []),
      route("a", "md", ["y"]),
      route("c", "md", ["x"]),
      route("d", "md", ["y"]),
    ]);
  });
});

const key = (r: Route) => `${r.deploymentId}/${r.socket}`;

// Small alphabets so that random before/after tables share nodes, keys and remotes.
const routeArb = fc.record(
  {
    deploymentId: fc.constantFrom("d1", "d2", "d3"),
    socket: fc.constantFrom("market_data", "orders"),
    pattern: fc.constantFrom("sub" as const, "dealer" as const),
    local: fc.constantFrom("ipc:///a", "ipc:///b"),
    remotes: fc
      .uniqueArray(fc.constantFrom("tcp://1:1", "tcp://2:2", "tcp://3:3"), { maxLength: 3 })
      .map((r) => r.sort()),
  },
  // Plain objects, as computeRoutes makes them: deepEqual compares prototypes.
  { noNullPrototype: true },
);
const tablesArb: fc.Arbitrary<RoutingTables> = fc
  .dictionary(
    fc.constantFrom("n1", "n2", "n3", "n4"),
    fc.uniqueArray(routeArb, { selector: key, maxLength: 6 }),
  )
  .map((byNode) => sortTables(new Map(Object.entries(byNode))));

/**
 * A before and an after that keeps some of before's routes unchanged (the bits of `mask`) and
 * takes the rest from an unrelated table, so that diffs mix kept, changed, new and gone routes.
 */
const pairArb = fc.tuple(tablesArb, tablesArb, fc.nat()).map(([before, other, mask]) => {
  const after = new Map<string, Route[]>();
  let bit = 0;
  for (const node of new Set([...before.keys(), ...other.keys()])) {
    const kept = (before.get(node) ?? []).filter(() => ((mask >> (bit++ % 31)) & 1) === 1);
    const keys = new Set(kept.map(key));
    after.set(node, [...kept, ...(other.get(node) ?? []).filter((r) => !keys.has(key(r)))]);
  }
  return [before, sortTables(after)] as const;
});

describe("diffRoutes and applyRouteUpdate (property)", () => {
  it("applying each node's update to before gives after; nodes not in the diff are already equal", () => {
    fc.assert(
      fc.property(pairArb, ([before, after]) => {
        const diff = diffRoutes(before, after);
        for (const node of new Set([...before.keys(), ...after.keys()])) {
          const update = diff.get(node);
          const was = before.get(node) ?? [];
          const want = after.get(node) ?? [];
          if (update === undefined) assert.deepEqual(was, want);
          else assert.deepEqual(applyRouteUpdate(was, update), want);
        }
        assert.deepEqual(applyRoutesDiff(before, diff), after);
      }),
    );
  });

  it("is the smallest diff: every update changes something, and no upsert repeats a route already there", () => {
    fc.assert(
      fc.property(pairArb, ([before, after]) => {
        for (const [node, update] of diffRoutes(before, after)) {
          assert.ok(update.upserts.length + update.removals.length > 0);
          for (const upsert of update.upserts)
            assert.ok(!(before.get(node) ?? []).some((r) => sameRoute(r, upsert)));
        }
        assert.equal(diffRoutes(after, after).size, 0);
      }),
    );
  });
});
