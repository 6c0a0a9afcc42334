/**
 * Fault: the active runner is killed with SIGKILL. The orchestrator calls its node down after
 * down-after, fences the gateway to the standby with a new epoch, then opens the standby's order
 * path. The audit must show no order accepted from a fenced deployment and no duplicate execution.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { auditReport, FaultCluster, until } from "./failover-kit.ts";
import { assertSafe } from "./fault-assert.ts";
import { netnsUsable, requireNetns } from "./lib/index.ts";

test("SIGKILL of the active runner: the standby trades within the failover budget, nothing fenced accepted", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const c = await FaultCluster.start();
  try {
    const active = await until("active", () => c.role("active"));
    const standby = await until("standby", () => c.role("standby"));
    const faultAt = Date.now();
    await c.runnerOf(active).proc.sigkill();
    await c.waitForAccepted(standby.id, faultAt);
    await new Promise((r) => setTimeout(r, 500)); // the new active keeps trading; retries meet duplicates
    const report = auditReport("sigkill", c.audit(), { from: active.id, to: standby.id, faultAtMs: faultAt });
    await assertSafe(t, c, report);
    assert.ok(
      report.faultToFirstOrderMs !== null &&
        report.faultToFirstOrderMs >= c.timings.downAfterMs - c.timings.heartbeatMs,
      `failover took ${report.faultToFirstOrderMs} ms: not before the node could be called down`,
    );
  } finally {
    await c.close();
  }
});
