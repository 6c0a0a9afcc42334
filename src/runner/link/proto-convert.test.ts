import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { OrderLimitsSchema, RouteUpdateSchema } from "../../protocol/index.ts";
import { fromProtoRouteUpdate, rateLimitOf } from "./proto-convert.ts";

test("a RouteUpdate carries the gateway's CURVE server key to the post office; empty means plain TCP", () => {
  const key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
  const update = fromProtoRouteUpdate(
    create(RouteUpdateSchema, {
      version: 3n,
      routes: [
        {
          deploymentId: "live-1",
          socketName: "orders",
          remoteAddresses: ["tcp://10.0.0.9:7000"],
          curveServerKey: key,
        },
        {
          deploymentId: "live-1",
          socketName: "market_data",
          remoteAddresses: ["tcp://10.0.0.2:1", "tcp://10.0.0.1:1"],
        },
      ],
      removals: [{ deploymentId: "old", socketName: "orders" }],
    }),
    (d, s) => ({ pattern: s === "orders" ? "dealer" : "sub", local: `ipc:///run/${d}/${s}` }),
  );
  assert.deepEqual(update, {
    upserts: [
      {
        deploymentId: "live-1",
        socket: "orders",
        pattern: "dealer",
        local: "ipc:///run/live-1/orders",
        remotes: ["tcp://10.0.0.9:7000"],
        curveServerKey: key,
      },
      {
        deploymentId: "live-1",
        socket: "market_data",
        pattern: "sub",
        local: "ipc:///run/live-1/market_data",
        remotes: ["tcp://10.0.0.1:1", "tcp://10.0.0.2:1"],
      },
    ],
    removals: [{ deploymentId: "old", socket: "orders" }],
  });
});

test("rateLimitOf: a SpawnRequest's order limits in the post office's terms, or none", () => {
  assert.equal(rateLimitOf({ deploymentId: "d" }), undefined);
  assert.deepEqual(
    rateLimitOf({
      deploymentId: "d",
      orderLimits: create(OrderLimitsSchema, { ordersPerSecond: 12.5, orderBurst: 3 }),
    }),
    { ordersPerSecond: 12.5, burst: 3 },
  );
  for (const bad of [
    { ordersPerSecond: 0, orderBurst: 3 },
    { ordersPerSecond: Number.NaN, orderBurst: 3 },
    { ordersPerSecond: 10, orderBurst: 0 },
  ])
    assert.throws(
      () => rateLimitOf({ deploymentId: "d", orderLimits: create(OrderLimitsSchema, bad) }),
      /deployment d: order limits of .*expected a rate above zero and a burst of at least 1/,
    );
});
