import assert from "node:assert/strict";
import { test } from "node:test";
import { serviceManifestSchema } from "../domain/index.ts";
import { dueAction } from "./deployment-driver.ts";
import { step } from "./deployment-lifecycle.ts";
import { newDeployment, type Deployment } from "./deployment.ts";

const manifest = serviceManifestSchema.parse({
  name: "bt",
  kind: "backtest",
  pool: "backtest",
  command: "node",
  resources: { cores: 1, memory: "64MiB" },
  restart: { policy: "on-failure", maxRestarts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 },
});

function placed(): Deployment {
  return newDeployment({ layout: "l", generation: 1, role: "active", replica: 0 }, manifest, {
    nodeId: "n1",
    pendingReason: undefined,
  });
}

test("a pass starts placed work after its backoff, stops unwanted running work, forgets the rest", () => {
  const d = placed();
  assert.equal(dueAction(d, 0), "start");
  d.notBefore = 10;
  assert.equal(dueAction(d, 9), "none", "still in its backoff");
  assert.equal(dueAction(d, 10), "start");
  d.inFlight = true;
  assert.equal(dueAction(d, 10), "none", "a spawn or stop on its way");
  d.inFlight = false;
  d.rec = { ...d.rec, nodeId: null };
  assert.equal(dueAction(d, 10), "none", "not placed");
  d.rec = { ...d.rec, nodeId: "n1", pendingReason: "gave up after 3 restarts" };
  step(d, { type: "exited", code: 1 });
  assert.equal(dueAction(d, 10), "none", "given up");
  d.rec = { ...d.rec, pendingReason: undefined };
  assert.equal(dueAction(d, 10), "start", "failed: restarted");
  step(d, { type: "exited", code: 0 });
  assert.equal(dueAction(d, 10), "none", "finished for good (on-failure)");
  d.rec = { ...d.rec, desired: "stopped" };
  assert.equal(dueAction(d, 10), "forget");
  step(d, { type: "spawned" });
  assert.equal(dueAction(d, 10), "stop");
  step(d, { type: "stop-sent" });
  assert.equal(dueAction(d, 10), "none", "stopping");
});
