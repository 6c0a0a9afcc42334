import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, HiveError } from "../../../core/hive-error.ts";
import { FakePostOffice } from "./fake-post-office.ts";
import type { PostOffice } from "../post-office.ts";
import { routeFor } from "./post-office-kit.ts";

describe("fake post office", () => {
  test("has the real one's API", () => {
    // A compile-time check: the fake can stand wherever the real one's methods are used.
    const asReal: Pick<
      PostOffice,
      "addDeployment" | "applyRoutes" | "setOrderPath" | "counters" | "removeDeployment" | "close"
    > = new FakePostOffice({ runDir: "/run/hive" });
    assert.ok(asReal);
  });

  test("records endpoints, routes and the order path, with the real checks", async () => {
    const po = new FakePostOffice({ runDir: "/run/hive" });
    const endpoints = await po.addDeployment(
      "d1",
      [
        { name: "market_data", pattern: "sub", direction: "consume" },
        { name: "orders", pattern: "dealer", direction: "consume" },
        { name: "fills", pattern: "pub", direction: "offer" },
      ],
      { epoch: 3n, ordersOpen: false },
    );
    assert.deepEqual(endpoints, {
      market_data: "ipc:///run/hive/strategies/d1/market_data",
      orders: "ipc:///run/hive/strategies/d1/orders",
    });
    await po.applyRoutes({
      upserts: [
        routeFor("/run/hive", "d1", "market_data", "sub", ["tcp://10.0.0.1:5000", "tcp://10.0.0.1:5000"]),
      ],
      removals: [],
    });
    assert.deepEqual(po.deployments.get("d1")?.remotes.get("market_data"), ["tcp://10.0.0.1:5000"]);
    await assert.rejects(
      po.applyRoutes({ upserts: [routeFor("/run/hive", "d2", "orders", "dealer", [])], removals: [] }),
      (err: unknown) => err instanceof HiveError && err.code === ErrorCode.NotFound,
    );
    po.setOrderPath("d1", true, 4n);
    po.setOrderPath("d1", true, 2n);
    assert.equal(po.deployments.get("d1")?.epoch, 4n);
    assert.equal(po.deployments.get("d1")?.ordersOpen, true);
    assert.deepEqual(
      po.counters().map((c) => [c.socket, c.kind, c.messages]),
      [
        ["market_data", "market-data", 0],
        ["orders", "orders", 0],
      ],
    );
    await po.removeDeployment("d1");
    assert.deepEqual(po.counters(), []);
  });
});
