import assert from "node:assert/strict";
import { test } from "node:test";
import { serviceManifestSchema } from "../domain/index.ts";
import { SocketDirection, SocketPattern } from "../protocol/index.ts";
import { spawnRequestFor } from "./spawn-request.ts";

const manifest = serviceManifestSchema.parse({
  name: "momentum",
  kind: "strategy",
  pool: "live",
  command: "node",
  args: ["momentum.mjs"],
  env: { ACCOUNT: "paper-001" },
  resources: { cores: 1, memory: "512MiB", exclusiveCores: 1 },
  sockets: {
    consumes: [
      { name: "market_data", pattern: "sub" },
      { name: "orders", pattern: "dealer" },
    ],
  },
  datasets: [{ name: "ticks", id: "es", version: "1" }],
  ports: ["metrics"],
  restart: { policy: "on-failure", maxRestarts: 5, initialBackoffMs: 1000, maxBackoffMs: 8000 },
  standby: 1,
  accounts: ["acct-1"],
});

test("every instance starts with its order path closed (the active opens once fenced) and its accounts", () => {
  const catalogue = [{ id: "es", version: "1", source: "/data/es.csv", size: 1024 }];
  const standby = spawnRequestFor(
    manifest,
    { deploymentId: "d-s0", layout: "l", role: "standby", epoch: 3n },
    catalogue,
  );
  const active = spawnRequestFor(
    manifest,
    { deploymentId: "d", layout: "l", role: "active", epoch: 3n },
    catalogue,
  );
  assert.equal(standby.ordersEnabled, false);
  assert.equal(active.ordersEnabled, false);
  assert.deepEqual(active.accounts, ["acct-1"]);
  assert.equal(active.epoch, 3n);
  assert.deepEqual(
    active.sockets?.map((s) => [s.name, s.pattern, s.direction]),
    [
      ["market_data", SocketPattern.SUB, SocketDirection.CONSUME],
      ["orders", SocketPattern.DEALER, SocketDirection.CONSUME],
    ],
  );
  assert.deepEqual(active.datasets?.[0], {
    name: "ticks",
    id: "es",
    version: "1",
    sourcePath: "/data/es.csv",
    sizeBytes: 1024n,
  });
  assert.deepEqual(active.portNames, ["metrics"]);
  assert.equal(active.resources?.memoryBytes, 512n * 2n ** 20n);
});

test("the layout's limits travel in the spawn request (orderLimits); none: no field at all", () => {
  const limited = serviceManifestSchema.parse({
    ...manifest,
    resources: { cores: 1, memory: "512MiB" },
    restart: undefined,
    limits: { ordersPerSecond: 25, orderBurst: 5 },
  });
  const target = { deploymentId: "d", layout: "l", role: "active" as const, epoch: 1n };
  assert.deepEqual(spawnRequestFor(limited, target, []).orderLimits, { ordersPerSecond: 25, orderBurst: 5 });
  assert.equal(spawnRequestFor(manifest, target, []).orderLimits, undefined);
});
