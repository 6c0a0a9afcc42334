/**
 * Fault: the active runner's main thread is blocked past its lease (SIGSTOP for 1 s, the lease
 * 1 s, its last renewal sent well before: a flood keeps the loop busy) while orders keep coming, and thawed before the orchestrator calls the node down
 * (5 s): no failover, the gateway stays fenced to this very deployment and epoch, so nothing but
 * the runner stands between the orders queued during the stall and the broker. Self-fencing's
 * timer has not run when the thread resumes, so the order path's gate is still open; the orders
 * queued meanwhile are read at once. The lease checked per order (order-path.ts) refuses every
 * one of them: from the thaw until the lease is granted again, 0 orders leave the node. Counted
 * at the runner (its `lease_expired` drops) and in the gateway's audit (no order from the
 * deployment stamped by the runner in that window). Trading then resumes on the renewed lease.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { test } from "node:test";
import * as zmq from "zeromq";
import { ACCOUNT, FaultCluster, sleep, until } from "./failover-kit.ts";
import { netnsUsable, requireNetns } from "./lib/index.ts";

// The kit's runners kill their live processes 1 s after the lease ran out (selfFenceKillAfterMs):
// the stall ends past the lease and, most of the time, before that kill (either way the window
// checked is the same: from the thaw to the lease granted again).
const STALL_MS = 1_000;
/** Orders the test floods the active's order socket with, so that the stall finds its loop busy. */
const FLOOD = 20_000;
const TIMINGS = { heartbeatMs: 150, leaseMs: 1_000, downAfterMs: 5_000 };
/**
 * Stalls tried, at most. A stall that finds the loop idle (its backlog drained) tests nothing of
 * the race (libuv runs the expired timer first on resuming an idle loop): the test stalls again,
 * and asserts that at least one stall found the loop reading and none let an order through.
 */
const ATTEMPTS = 3;

test("a runner stalled past its lease forwards none of the orders read after it lapsed", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const c = await FaultCluster.start({ timings: TIMINGS, runnerMetrics: true });
  const flood = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0, sendTimeout: 5_000 });
  try {
    const active = await until("active", () => c.role("active"));
    const r = c.runnerOf(active);
    // A second sender on the strategy's own socket (root reaches it): a flood of resting orders,
    // so that the runner's order loop is draining a backlog when its thread stops. A loop with
    // orders ready yields to the event loop only every few hundred messages, so when it resumes it
    // goes on reading before any timer (self-fencing's expiry included) can run.
    flood.connect(`ipc://${join(dirname(r.config), "run", "strategies", active.id, "orders")}`);
    const order = (attempt: number, i: number) =>
      JSON.stringify({
        account: ACCOUNT,
        clientOrderId: `flood-${attempt}-${i}`,
        symbol: "ESZ6",
        side: "buy",
        qty: 1,
        type: "limit",
        price: 1,
      });
    const stamped = (detail: string | null) => {
      try {
        return (JSON.parse(detail ?? "{}") as { sentAtUnixMs?: number }).sentAtUnixMs;
      } catch {
        return undefined;
      }
    };
    let exercised = 0;
    for (let attempt = 1; attempt <= ATTEMPTS && exercised === 0; attempt++) {
      const before = await c.orderPathFigures(r, active.id);
      for (let i = 0; i < FLOOD; i++) await flood.send(order(attempt, i));
      const stopAt = Date.now();
      r.proc.sigstop();
      await sleep(STALL_MS);
      const contAt = Date.now();
      r.proc.sigcont();
      // The lease granted again (a heartbeat acknowledged, or a registration): orders go again.
      const regrant = await until(
        "the lease granted again",
        () => c.runnerEvents(r, /^lease granted/).find((e) => e.at >= contAt),
        10_000,
      );
      // The runner's counts at once, before anything else can happen to the deployment.
      const after = await c.orderPathFigures(r, active.id);
      const resumed = await c.waitForAccepted(active.id, regrant.at, 20_000);
      await sleep(300); // whatever was in flight is decided
      const delta = (reason: string) => (after.drops[reason] ?? 0) - (before.drops[reason] ?? 0);
      const refused = delta("lease_expired");
      if (refused > 0) exercised = attempt;
      // Read (and stamped) by the runner after the thaw and before the renewal: read after the
      // lease lapsed (it lapsed during the stall).
      const afterLapse = c.audit().filter((x) => {
        if (x.kind !== "order" || x.deploymentId !== active.id) return false;
        const at = stamped(x.detail);
        return at !== undefined && at >= contAt && at < regrant.at;
      });
      t.diagnostic(
        JSON.stringify({
          attempt,
          stalledMs: contAt - stopAt,
          thawToRegrantMs: regrant.at - contAt,
          regrantFrom: regrant.line["from"],
          refusedLeaseExpiredAtRunner: refused,
          refusedClosedAtRunner: delta("closed"),
          refusedQueuedTooLongAtRunner: delta("queued_too_long"),
          forwardedAtRunner: after.forwarded - before.forwarded,
          forwardedDuringWindow: afterLapse.length,
          firstAcceptedAfterRegrantMs: resumed.decidedAtMs - regrant.at,
        }),
      );
      assert.deepEqual(
        afterLapse.map((x) => `${x.clientOrderId} ${x.outcome}`),
        [],
        `attempt ${attempt}: orders read after the lease lapsed reached the gateway`,
      );
    }
    // The loop went on reading the backlog after a thaw, before self-fencing's timer ran: those
    // orders were refused by the lease check itself (the gate was still open).
    assert.ok(exercised > 0, `in ${ATTEMPTS} stalls the loop was never reading when the thread resumed`);
  } finally {
    flood.close();
    await c.close();
  }
});
