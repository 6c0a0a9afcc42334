/**
 * Fault: the orchestrator is SIGKILLed in the middle of a failover. The active runner is killed;
 * as soon as the orchestrator logs that it is failing over, it is SIGKILLed too (the promotion, the
 * epoch and the fence may each be done or not), then restarted on its store. After the restart it
 * calls the unseen node lost once down-after has passed, and the standby ends up active and
 * trading, with an epoch strictly above the old one (epochs are durable, never handed out twice);
 * no duplicate execution, nothing fenced accepted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { auditReport, FaultCluster, sleep, until } from "./failover-kit.ts";
import { assertNotBeforeDown, assertSafe } from "./fault-assert.ts";
import { netnsUsable, requireNetns } from "./lib/index.ts";

test("orchestrator SIGKILLed during a failover and restarted: the standby ends up active with a higher epoch", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const c = await FaultCluster.start();
  try {
    const active = await until("active", () => c.role("active"));
    const standby = await until("standby", () => c.role("standby"));
    const since = c.orchestrator.lineCount;
    const faultAt = Date.now();
    await c.runnerOf(active).proc.sigkill();
    const failing = await c.orchestrator
      .waitForLine((l) => l.json?.["msg"] === "failing over to the warm standby", c.timings.downAfterMs * 5, {
        since,
      })
      .then((l) => Number(l.json?.["time"]))
      .catch(() => undefined);
    const killedAt = Date.now();
    await c.orchestrator.sigkill();
    await sleep(200);
    const restartAt = Date.now();
    await c.startOrchestrator();
    const first = await c.waitForAccepted(standby.id, faultAt);
    const promoted = await until("the standby active and running", async () => {
      const d = await c.deployment(standby.id);
      return d?.role === "active" && d.phase === "running" && d.epoch !== "0" ? d : undefined;
    });
    await sleep(300);
    const report = auditReport("orchestrator-restart", c.audit(), {
      from: active.id,
      to: standby.id,
      faultAtMs: faultAt,
    });
    t.diagnostic(
      JSON.stringify({
        faultToFailingOverLogMs: failing === undefined ? null : failing - faultAt,
        faultToOrchestratorKillMs: killedAt - faultAt,
        restartToFirstNewOrderMs: first.decidedAtMs - restartAt,
        oldEpoch: active.epoch,
        newEpoch: promoted.epoch,
      }),
    );
    await assertSafe(t, c, report);
    assert.ok(BigInt(promoted.epoch) > BigInt(active.epoch), "the new epoch is strictly above the old one");
    assertNotBeforeDown(c, report);
  } finally {
    await c.close();
  }
});
