/**
 * Fault: the active runner is cut from the gateway only (its link to the orchestrator stays up).
 * This is not a reason to fail over: the orchestrator still hears the runner, the lease holds, the
 * fence does not move. Orders sent during the cut cannot reach the gateway; after the heal the same
 * active trades again, and nothing fenced is accepted.
 *
 * The cut is silent (no RST), so the runner's TCP connection to the gateway looks established
 * throughout. The order path's DEALER (ZMQ_IMMEDIATE, send timeout 0) then queues orders on the
 * stalled connection instead of rejecting them as unreachable, and TCP delivers them after the
 * heal — late. The todo subtest below states the behaviour wanted (rejected at the runner, none
 * delivered late); it fails until the order path detects a dead gateway connection (ZeroMQ
 * heartbeats on the upstream DEALER).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { auditReport, FaultCluster, lateAccepted, sleep, until } from "./failover-kit.ts";
import { assertSafe } from "./fault-assert.ts";
import { netnsUsable, requireNetns } from "./lib/index.ts";

test("cut from the gateway only: no failover; after the heal the same active trades again", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const c = await FaultCluster.start({ runnerMetrics: true });
  try {
    const active = await until("active", () => c.role("active"));
    const r = c.runnerOf(active);
    const before = await c.orderPathFigures(r, active.id);
    const cutMs = c.timings.downAfterMs * 2;
    const faultAt = Date.now();
    await r.ns.cutTo(c.gatewayHost);
    await sleep(cutMs);
    const during = await c.orderPathFigures(r, active.id);
    const stillActive = await c.role("active");
    const healAt = Date.now();
    await r.ns.heal(c.gatewayHost);
    const back = await c.waitForAccepted(active.id, healAt);
    await sleep(500);
    const records = c.audit();
    const fences = records.filter((x) => x.kind === "fence" && x.decidedAtMs >= faultAt);
    const late = lateAccepted(
      records.filter((x) => x.decidedAtMs >= healAt),
      500,
    );
    const unreachable = (during.drops["unreachable"] ?? 0) - (before.drops["unreachable"] ?? 0);
    const report = auditReport("gateway-cut", records, undefined);
    t.diagnostic(
      JSON.stringify({
        cutMs: healAt - faultAt,
        healToFirstAcceptedMs: back.decidedAtMs - healAt,
        forwardedDuringCut: during.forwarded - before.forwarded,
        rejectedUnreachableAtRunner: unreachable,
        acceptedLateAfterHeal: late.length,
        maxLateMs: Math.max(
          0,
          ...late.map((x) => (x.receivedAtMs ?? 0) - jsonNumber(x.detail, "sentAtUnixMs")),
        ),
        fenceChanges: fences.length,
      }),
    );
    await assertSafe(t, c, report);
    assert.equal(stillActive?.id, active.id, "the same active during the cut: no failover");
    assert.equal(fences.length, 0, "the fence did not move");
    assert.equal((await c.role("active"))?.id, active.id, "the same active after the heal");
    await t.test(
      "orders sent during the cut are rejected at the runner (unreachable), none delivered late",
      {
        todo: "src/runner/post-office/order-path.ts: the upstream DEALER has no ZeroMQ heartbeat, so a silently dead gateway connection stays 'connected' and orders queue on it",
      },
      () => {
        assert.ok(unreachable > 0, `rejected unreachable at the runner during the cut: ${unreachable}`);
        assert.equal(
          late.length,
          0,
          `accepted more than 500 ms after the runner stamped them: ${late.length}`,
        );
      },
    );
  } finally {
    await c.close();
  }
});

function jsonNumber(detail: string | null, field: string): number {
  try {
    const v = (JSON.parse(detail ?? "{}") as Record<string, unknown>)[field];
    return typeof v === "number" ? v : 0;
  } catch {
    return 0;
  }
}
