import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_SELF_FENCE_KILL_AFTER_MS, LeaseGuard, type LeaseState } from "./lease-guard.ts";
import { FakeClock } from "../../core/testing/fake-clock.ts";

function guard(killAfterMs?: number) {
  const clock = new FakeClock(0);
  const events: string[] = [];
  const lease = new LeaseGuard({
    clock,
    killAfterMs,
    onLost: (e) => events.push(`lost+${e.overdueMs}`),
    onKill: (e) => events.push(`kill@${e.lostForMs}`),
    onGranted: (e: { from: LeaseState; lostForMs: number }) =>
      events.push(`granted:${e.from}/${e.lostForMs}`),
  });
  return { clock, events, lease };
}

describe("LeaseGuard", () => {
  test("the deadline counts from when the acknowledged message was SENT, not when its ack came", () => {
    const { clock, events, lease } = guard();
    lease.registerSent();
    clock.advance(300); // a slow RegisterAck
    lease.registered(1_000);
    assert.equal(lease.state, "held");
    assert.equal(lease.remainingMs(), 700);
    lease.heartbeatSent(1n);
    clock.advance(200);
    lease.heartbeatSent(2n);
    clock.advance(100);
    lease.heartbeatAcked(1n, 1_000); // sent at 300: runs to 1300
    assert.equal(lease.remainingMs(), 1_300 - 600);
    clock.advance(699);
    assert.deepEqual(events, ["granted:none/0"]);
    clock.advance(1);
    assert.deepEqual(events, ["granted:none/0", "lost+0"]);
    assert.equal(lease.state, "lost");
  });

  test("an ack of an older heartbeat, or one that arrives after its lease ran out, renews nothing", () => {
    const { clock, events, lease } = guard();
    lease.registerSent();
    lease.registered(1_000);
    lease.heartbeatSent(1n);
    clock.advance(500);
    lease.heartbeatSent(2n);
    lease.heartbeatAcked(2n, 1_000); // to 1500
    lease.heartbeatAcked(1n, 1_000); // to 1000: older, ignored (and 1 was dropped with 2's ack)
    assert.equal(lease.remainingMs(), 1_000);
    lease.heartbeatSent(3n);
    clock.advance(1_000);
    assert.equal(lease.state, "lost");
    lease.heartbeatAcked(3n, 500); // sent at 500, would run to 1000 < now 1500
    assert.equal(lease.state, "lost");
    assert.deepEqual(events, ["granted:none/0", "lost+0"]);
  });

  test("kills after the grace; a renewal before it cancels the kill", () => {
    const { clock, events, lease } = guard(1_000);
    lease.registerSent();
    lease.registered(1_000);
    clock.advance(1_000);
    assert.equal(lease.state, "lost");
    clock.advance(999);
    lease.registerSent(); // a new stream
    lease.registered(1_000);
    assert.equal(lease.state, "held");
    clock.advance(900);
    assert.deepEqual(events, ["granted:none/0", "lost+0", "granted:lost/999"]);
    clock.advance(100); // the new lease runs out at 2999
    clock.advance(1_000);
    assert.equal(lease.state, "killed");
    assert.deepEqual(events.slice(3), ["lost+0", "kill@1000"]);
    assert.deepEqual(lease.counts, { losses: 2, kills: 1 });
    lease.heartbeatSent(9n);
    lease.heartbeatAcked(9n, 0); // 0: the TTL of the last lease
    assert.equal(lease.state, "held");
    assert.equal(lease.remainingMs(), 1_000);
    assert.equal(events.at(-1), "granted:killed/1000");
  });

  test("the default grace is DEFAULT_SELF_FENCE_KILL_AFTER_MS, longer than an orchestrator restart", () => {
    const { clock, events, lease } = guard();
    lease.registerSent();
    lease.registered(400);
    clock.advance(400 + DEFAULT_SELF_FENCE_KILL_AFTER_MS - 1);
    assert.deepEqual(events, ["granted:none/0", "lost+0"]);
    clock.advance(1);
    assert.equal(lease.state, "killed");
    assert.ok(DEFAULT_SELF_FENCE_KILL_AFTER_MS >= 5_000);
  });

  test("an explicit grace; close cancels every timer", () => {
    const { clock, events, lease } = guard(250);
    lease.registerSent();
    lease.registered(1_000);
    clock.advance(1_250);
    assert.deepEqual(events, ["granted:none/0", "lost+0", "kill@250"]);
    const second = guard();
    second.lease.registerSent();
    second.lease.registered(1_000);
    assert.equal(second.clock.pending, 1);
    second.lease.close();
    assert.equal(second.clock.pending, 0);
    second.clock.advance(10_000);
    assert.deepEqual(second.events, ["granted:none/0"]);
  });

  test("the wall clock plays no part: moving Date.now back changes nothing", (t) => {
    const { clock, events, lease } = guard();
    const real = Date.now();
    t.mock.method(Date, "now", () => real - 3_600_000);
    lease.registerSent();
    lease.registered(1_000);
    clock.advance(1_000);
    assert.deepEqual(events, ["granted:none/0", "lost+0"]);
  });
});
