/**
 * Fault: split brain. The active runner's namespace is cut from the orchestrator only; its link to
 * the gateway stays up, so nothing on the network stops it trading. Its lease runs out: it closes
 * the order path at once (self-fencing), before the orchestrator calls the node down and fails
 * over to the standby; it kills the strategy after the grace (selfFenceKillAfterMs), if the
 * orchestrator has not stopped it first. The cut is kept a while after the promotion (the old runner
 * and its strategy alive and sending, still connected to the gateway), then healed: the runner
 * gets a lease again and reopens the old order path as last commanded, so the zombie's orders do
 * reach the gateway, and are refused by epoch, until the orchestrator has stopped the old
 * deployment. It must be stopped, and nothing of it accepted after the fence moved.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { auditReport, FaultCluster, ordersFrom, pidAlive, sleep, until } from "./failover-kit.ts";
import { assertNotBeforeDown, assertOldActiveProbes, assertSafe, probeDiagnostics } from "./fault-assert.ts";
import { netnsUsable, requireNetns } from "./lib/index.ts";

test("split brain: cut from the orchestrator only, the runner self-fences, the standby takes over; after the heal the old one is gone", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const c = await FaultCluster.start();
  try {
    const active = await until("active", () => c.role("active"));
    const standby = await until("standby", () => c.role("standby"));
    const old = c.runnerOf(active);
    const strategyPid = active.pid;
    assert.ok(strategyPid !== null, "the active's pid is known");
    const since = old.proc.lineCount;
    const faultAt = Date.now();
    await old.ns.cutTo(c.orchestratorHost);
    const lease = await c.waitForSelfFence(old, since);
    await c.waitForAccepted(standby.id, faultAt);
    const promotedAt = Date.now();
    // Still cut: an order as the old active gets nowhere, from the old node or the new one.
    const probes = await c.probeOldActive(active, standby, "probe-split");
    await sleep(1_000);
    const healAt = Date.now();
    await old.ns.heal(c.orchestratorHost);
    await until("the old strategy process gone", () => !pidAlive(strategyPid), 10_000);
    const oldView = await until(
      "the old deployment stopped after the heal",
      async () => {
        const d = await c.deployment(active.id);
        return d === undefined || d.phase !== "running" ? (d ?? "forgotten") : undefined;
      },
      10_000,
    );
    await sleep(300);
    const records = c.audit();
    const report = auditReport("split-brain", records, {
      from: active.id,
      to: standby.id,
      faultAtMs: faultAt,
    });
    const kill = c.selfFenceKill(old, faultAt);
    const lastOld = records
      .filter((r) => r.kind === "order" && r.deploymentId === active.id && r.outcome === "accepted")
      .at(-1);
    const after = ordersFrom(records, active.id, promotedAt);
    t.diagnostic(
      JSON.stringify({
        faultToSelfFenceMs: Number(lease.json?.["time"]) - faultAt,
        faultToSelfFenceKillMs: kill ? kill.at - faultAt : null,
        faultToLastOldAcceptedMs: lastOld ? lastOld.decidedAtMs - faultAt : null,
        cutAfterPromotionMs: healAt - promotedAt,
        oldOrdersAtGatewayAfterPromotion: after.length,
        ...probeDiagnostics(probes),
        oldAfterHeal: typeof oldView === "string" ? oldView : oldView.phase,
      }),
    );
    await assertSafe(t, c, report);
    assertOldActiveProbes(probes);
    assert.equal(
      after.filter((r) => r.outcome === "accepted").length,
      0,
      "old orders accepted after the promotion",
    );
    assertNotBeforeDown(c, report);
  } finally {
    await c.close();
  }
});
