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
import { assertNotBeforeDown, assertOldActiveProbes, assertSafe, probeDiagnostics } from "./fault-assert.ts";
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
    // Had self-fencing failed, the gateway is the wall: an order stamped as the old active gets
    // nowhere, from the old node or the new one.
    const probes = await c.probeOldActive(active, standby, "probe-zombie");
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
        ...probeDiagnostics(probes),
      }),
    );
    await assertSafe(t, c, report);
    assertOldActiveProbes(probes);
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
