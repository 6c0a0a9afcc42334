import assert from "node:assert/strict";
import { test } from "node:test";
import type { DeploymentView } from "../orchestrator/control-plane.ts";
import { deploymentDetail } from "./deployment-table.ts";

const base: DeploymentView = {
  id: "bt.sweep-1",
  layout: "bt",
  service: "sweep",
  role: "active",
  replica: 0,
  nodeId: "data-1",
  phase: "exited",
  pid: null,
  addresses: {},
  restarts: 0,
  epoch: "0",
  pendingReason: null,
  lastExit: null,
};
const exited = (code: number | null, signal: string | null, reason: string) =>
  deploymentDetail({ ...base, phase: code === 0 ? "exited" : "failed", lastExit: { code, signal, reason } });

test("an exit's detail says the code or signal once", () => {
  assert.equal(exited(0, null, "exited with code 0"), "exited with code 0");
  assert.equal(
    exited(null, "SIGKILL", "killed by SIGKILL (out of memory: limit 64 MiB)"),
    "killed by SIGKILL (out of memory: limit 64 MiB)",
  );
  // A reason that does not say how gets it added.
  assert.equal(exited(3, null, "crashed"), "crashed (code 3)");
  assert.equal(exited(null, "SIGTERM", "stopped"), "stopped (SIGTERM)");
  assert.equal(exited(null, null, "node lost"), "node lost");
});

test("a pending deployment's detail is the scheduler's reason; a running one's, its addresses", () => {
  assert.equal(
    deploymentDetail({ ...base, phase: "pending", nodeId: null, pendingReason: "2 nodes: pool mismatch" }),
    "2 nodes: pool mismatch",
  );
  assert.equal(
    deploymentDetail({ ...base, phase: "running", addresses: { market_data: "tcp://127.0.0.1:21100" } }),
    "market_data=tcp://127.0.0.1:21100",
  );
});
