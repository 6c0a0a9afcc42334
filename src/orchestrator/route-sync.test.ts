/**
 * Route pushes without waiting: a runner that does not answer holds up neither the caller nor the
 * other runners; one push per node at a time, each diff taken against what the node
 * acknowledged; a push that ends after its runner registered again changes nothing.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { silentLogger } from "../core/logger.ts";
import type { Layout } from "../domain/index.ts";
import type { Route, RouteUpdate, RoutingTables } from "../layout/index.ts";
import type { LayoutEntry } from "./layout-entry.ts";
import { forgetNode, isRouted, pushRoutes } from "./route-sync.ts";
import type { LayoutRecord } from "./store/store-records.ts";

const route = (deploymentId: string, remotes: string[]): Route => ({
  deploymentId,
  socket: "market_data",
  pattern: "sub",
  local: `ipc:///run/hive/strategies/${deploymentId}/market_data`,
  remotes,
});

function entry(): LayoutEntry {
  return {
    rec: { name: "l" } as LayoutRecord,
    layout: { name: "l", services: [] } as unknown as Layout,
    pushed: new Map(),
    pushing: new Map(),
  };
}

/** A provider whose pushes the test settles by hand, node by node. */
class HeldProvider {
  readonly calls: { nodeId: string; update: RouteUpdate; ack: () => void; fail: (e: Error) => void }[] = [];
  reachable(): boolean {
    return true;
  }
  routes(nodeId: string, update: RouteUpdate): Promise<void> {
    return new Promise((ack, fail) => this.calls.push({ nodeId, update, ack: () => ack(), fail }));
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("route sync", () => {
  test("a silent runner holds up neither the caller nor another runner's routes", async () => {
    const e = entry();
    const provider = new HeldProvider();
    const settled: [string, boolean][] = [];
    const want: RoutingTables = new Map([
      ["silent", [route("d1", ["tcp://10.0.0.1:5000"])]],
      ["quick", [route("d2", ["tcp://10.0.0.1:5000"])]],
    ]);
    // Returns at once: nothing is awaited.
    pushRoutes(e, want, provider, silentLogger(), (ok) => settled.push(["push", ok]));
    assert.deepEqual(
      provider.calls.map((c) => c.nodeId),
      ["quick", "silent"],
    );
    provider.calls.find((c) => c.nodeId === "quick")?.ack();
    await tick();
    assert.deepEqual(settled, [["push", true]]);
    assert.deepEqual(e.pushed.get("quick"), want.get("quick"));
    assert.equal(e.pushed.has("silent"), false);
    assert.equal(isRouted(e, want), false, "not routed while the silent node has not acknowledged");

    // Another pass while the push is out: nothing more goes to that node (one push at a time).
    const moved: RoutingTables = new Map([
      ["silent", [route("d1", ["tcp://10.0.0.2:5000"])]],
      ["quick", [route("d2", ["tcp://10.0.0.2:5000"])]],
    ]);
    pushRoutes(e, moved, provider, silentLogger(), (ok) => settled.push(["push", ok]));
    assert.deepEqual(
      provider.calls.slice(2).map((c) => c.nodeId),
      ["quick"],
    );
    // The silent node times out; the next pass diffs against what it acknowledged (nothing).
    provider.calls[1]?.fail(new Error("no ack within 5000 ms"));
    provider.calls[2]?.ack();
    await tick();
    assert.deepEqual(settled.slice(1).sort(), [
      ["push", false],
      ["push", true],
    ]);
    pushRoutes(e, moved, provider, silentLogger(), () => undefined);
    const retry = provider.calls[3];
    assert.equal(retry?.nodeId, "silent");
    assert.deepEqual(retry?.update, { upserts: moved.get("silent"), removals: [] });
    retry?.ack();
    await tick();
    assert.equal(isRouted(e, moved), true);
  });

  test("a push that ends after its runner registered again changes nothing; the full table goes again", async () => {
    const e = entry();
    const provider = new HeldProvider();
    const want: RoutingTables = new Map([["n", [route("d1", ["tcp://10.0.0.1:5000"])]]]);
    const settled: boolean[] = [];
    pushRoutes(e, want, provider, silentLogger(), (ok) => settled.push(ok));
    forgetNode(e, "n"); // the runner registered again: it has no routes
    pushRoutes(e, want, provider, silentLogger(), (ok) => settled.push(ok));
    assert.equal(provider.calls.length, 2, "the new session gets its own push at once");
    provider.calls[0]?.ack(); // the old session's answer, late
    await tick();
    assert.deepEqual(settled, [], "the old push is not the node's any more");
    assert.equal(e.pushed.has("n"), false);
    provider.calls[1]?.ack();
    await tick();
    assert.deepEqual(settled, [true]);
    assert.deepEqual(e.pushed.get("n"), want.get("n"));
  });
});
