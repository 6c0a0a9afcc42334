/**
 * Fault: the active runner is frozen with SIGSTOP for longer than down-after. The orchestrator
 * calls its node down and fails over to the standby (fenced at the gateway with a new epoch).
 * Then the old runner is thawed with SIGCONT: a zombie whose strategy never stopped sending. It
 * must find its lease long gone and self-fence at once (close the order path; the kill of the
 * strategy comes after the grace, selfFenceKillAfterMs, whichever of it and the orchestrator's stop
 * gets there first); whatever of its orders still reaches the gateway is refused by epoch; nothing of
 * it is accepted after the fence moved.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { auditReport, FaultCluster, ordersFrom, pidAlive, sleep, until } from "./failover-kit.ts";
import { assertNotBeforeDown, assertSafe } from "./fault-assert.ts";
import { netnsUsable, requireNetns } from "./lib/index.ts";

test("SIGSTOP of the active runner past down-after, then SIGCONT: the zombie self-fences and nothing of it is accepted", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const c = await FaultCluster.start();
  try {
    const active = await until("active", () => c.role("active"));
    const standby = await until("standby", () => c.role("standby"));
    const old = c.runnerOf(active);
    const since = old.proc.lineCount;
    const faultAt = Date.now();
    old.proc.sigstop();
    await c.waitForAccepted(standby.id, faultAt);
    await sleep(300); // frozen a while longer, past the promotion
    const contAt = Date.now();
    old.proc.sigcont();
    const selfFence = await c.waitForSelfFence(old, since);
    const selfFencedAt = Number(selfFence.json?.["time"]);
    // The zombie's strategy keeps sending until it is killed (self-fencing, or the orchestrator's stop).
    const strategyPid = active.pid;
    assert.ok(strategyPid !== null, "the active's pid is known");
    await until("the old strategy process gone", () => !pidAlive(strategyPid), 10_000);
    const goneAt = Date.now();
    // Had self-fencing failed, the gateway is the wall: an order stamped as the old active, sent
    // with the old runner's own key, is refused by epoch.
    const probe = await c.probeOrder(old, active.id, active.epoch, "probe-zombie");
    // Its node hosts nothing fenced any more, so it cannot even connect; the new active's node,
    // admitted, sending as the old active, is refused by the fence.
    const probeFromNew = await c.probeOrder(
      c.runnerOf(standby),
      active.id,
      active.epoch,
      "probe-zombie-new-node",
    );
    await sleep(300); // the new active keeps trading; late zombie orders (if any) are decided
    const records = c.audit();
    const report = auditReport("sigstop", records, { from: active.id, to: standby.id, faultAtMs: faultAt });
    const kill = c.selfFenceKill(old, contAt);
    const zombie = ordersFrom(records, active.id, contAt);
    t.diagnostic(
      JSON.stringify({
        stoppedForMs: contAt - faultAt,
        faultToSelfFenceMs: selfFencedAt - faultAt,
        sigcontToSelfFenceMs: selfFencedAt - contAt,
        sigcontToSelfFenceKillMs: kill ? kill.at - contAt : null,
        sigcontToStrategyGoneMs: goneAt - contAt,
        zombieOrdersAtGateway: zombie.length,
        zombieAccepted: zombie.filter((r) => r.outcome === "accepted").length,
        zombieRejectCodes: [...new Set(zombie.map((r) => r.code))],
        probeAsOldActive: `${probe.type} ${String(probe["code"])}`,
        probeAsOldActiveFromNewNode: `${probeFromNew.type} ${String(probeFromNew["code"])}`,
      }),
    );
    await assertSafe(t, c, report);
    assert.deepEqual(
      [probe.type, probe["code"]],
      ["none", "not-admitted"],
      "the old active's node, hosting nothing fenced, cannot connect",
    );
    assert.deepEqual(
      [probeFromNew.type, probeFromNew["code"]],
      ["reject", "fenced"],
      "an order as the old active from the node the gateway admits",
    );
    assert.equal(zombie.filter((r) => r.outcome === "accepted").length, 0, "a zombie order accepted");
    for (const r of zombie)
      assert.ok(
        r.code === "fenced" || r.code === "stale-epoch" || r.code === "stale-order",
        `zombie order ${r.outcome} ${r.code}`,
      );
    assertNotBeforeDown(c, report);
  } finally {
    await c.close();
  }
});
