/**
 * Fault: the gateway is SIGKILLed during a failover. The gateway dies, then the active runner is
 * killed, and the gateway comes back about a second later on its state directory. The
 * orchestrator's fence calls fail while it is down and are retried; the promotion completes once
 * it is back. The fence is durable: the restarted gateway (and after a second kill and restart)
 * still refuses an order stamped as the old active, and no clientOrderId is executed twice.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { auditReport, FaultCluster, sleep, until } from "./failover-kit.ts";
import { assertNotBeforeDown, assertSafe } from "./fault-assert.ts";
import { netnsUsable, requireNetns } from "./lib/index.ts";

test("gateway SIGKILLed during a failover and restarted: the promotion completes, the old deployment stays fenced", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const c = await FaultCluster.start();
  try {
    const active = await until("active", () => c.role("active"));
    const standby = await until("standby", () => c.role("standby"));
    const survivor = c.runnerOf(standby);
    const gatewayKilledAt = Date.now();
    await c.gateway.sigkill();
    const faultAt = Date.now();
    await c.runnerOf(active).proc.sigkill();
    await sleep(1_000);
    const gatewayBackAt = Date.now();
    await c.startGateway();
    const first = await c.waitForAccepted(standby.id, faultAt);
    const promoted = await until("the standby active", async () => {
      const d = await c.deployment(standby.id);
      return d?.role === "active" && d.epoch !== "0" ? d : undefined;
    });
    const probe1 = await c.probeOrder(survivor, active.id, active.epoch, "probe-restart-1");
    // Once more: killed and restarted after the fence was committed, it still refuses the old one.
    await c.gateway.sigkill();
    await sleep(300);
    const secondBackAt = Date.now();
    await c.startGateway();
    const probe2 = await c.probeOrder(survivor, active.id, active.epoch, "probe-restart-2");
    const again = await c.waitForAccepted(standby.id, secondBackAt);
    await sleep(300);
    const report = auditReport("gateway-restart", c.audit(), {
      from: active.id,
      to: standby.id,
      faultAtMs: faultAt,
    });
    t.diagnostic(
      JSON.stringify({
        gatewayDownMs: gatewayBackAt - gatewayKilledAt,
        gatewayBackToFirstNewOrderMs: first.decidedAtMs - gatewayBackAt,
        secondRestartToFirstOrderMs: again.decidedAtMs - secondBackAt,
        oldEpoch: active.epoch,
        newEpoch: promoted.epoch,
        probesAsOldActive: [probe1, probe2].map((p) => `${p.type} ${String(p["code"])}`),
      }),
    );
    await assertSafe(t, c, report);
    assert.ok(BigInt(promoted.epoch) > BigInt(active.epoch), "the new epoch is above the old one");
    assert.deepEqual([probe1.type, probe1["code"]], ["reject", "fenced"], "after the first restart");
    assert.deepEqual([probe2.type, probe2["code"]], ["reject", "fenced"], "after the second restart");
    assertNotBeforeDown(c, report);
  } finally {
    await c.close();
  }
});
