/**
 * Fault: the active runner is cut from the gateway only (its link to the orchestrator stays up).
 * This is not a reason to fail over: the orchestrator still hears the runner, the lease holds, the
 * fence does not move. Orders sent during the cut cannot reach the gateway; after the heal the same
 * active trades again, and nothing fenced is accepted.
 *
 * The cut is silent (no RST), so TCP alone would keep the connection "established" and the
 * order path's DEALER would queue orders on it for TCP to deliver after the heal, seconds late.
 * The order path's ZMTP heartbeats (src/runner/post-office/order-path.ts, GATEWAY_HEARTBEAT)
 * close the silent connection within their timeout; from then on orders are rejected at the
 * runner as unreachable, and none is accepted late after the heal (checked from the audit: an
 * accepted order's receivedAtMs against the sentAtUnixMs its runner stamped). The gateway's own
 * maxOrderAgeMs (stale-order) would refuse one that still got through late.
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
    assert.ok(unreachable > 0, `orders rejected unreachable at the runner during the cut: ${unreachable}`);
    assert.equal(late.length, 0, "orders accepted more than 500 ms after their runner stamped them");
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
