import assert from "node:assert/strict";
import { test } from "node:test";
import type { MonotonicClock } from "../../core/monotonic-clock.ts";
import { FakeClock } from "../../core/testing/fake-clock.ts";
import { QueueWatch } from "./queue-watch.ts";

test("an idle path: the tick keeps the mark fresh, so the next order is not counted as old", () => {
  const clock = new FakeClock();
  const watch = new QueueWatch(clock, 400);
  watch.caughtUp(); // the loop waits
  clock.advance(60_000); // a minute with nothing to read
  assert.ok(watch.ageBoundMs(clock.now()) <= 100, `bound ${watch.ageBoundMs(clock.now())}`);
  assert.equal(watch.tooOld(clock.now()), false);
  watch.close();
  assert.equal(clock.pending, 0, "no timer left after close");
});

test("a loop busy with a backlog: the tick does not move the mark, and orders turn too old past the bound", () => {
  const clock = new FakeClock();
  const watch = new QueueWatch(clock, 400);
  watch.caughtUp();
  clock.advance(100);
  watch.reading(); // orders arrive faster than the loop drains them
  clock.advance(400);
  assert.equal(watch.tooOld(clock.now()), false, "exactly the bound is not past it");
  clock.advance(1);
  assert.equal(watch.tooOld(clock.now()), true);
  // The loop drains the queue and finds it empty: fresh again.
  watch.caughtUp();
  assert.equal(watch.tooOld(clock.now()), false);
  watch.close();
});

test("a stalled thread: the tick that fires late marks nothing, so the orders read after carry the stall", () => {
  let now = 1_000;
  const timers: (() => void)[] = [];
  const stalled: MonotonicClock = {
    now: () => now,
    setTimer: (_ms, fire) => {
      timers.push(fire);
      return () => undefined;
    },
  };
  const watch = new QueueWatch(stalled, 250);
  watch.caughtUp(); // waiting on an empty queue when the thread stops
  now += 900; // SIGSTOP, a long GC: the monotonic clock goes on, nothing runs
  timers.shift()?.(); // on resume, the tick (62.5 ms due) fires 837.5 ms late: first, before the orders
  assert.equal(watch.ageBoundMs(now), 900);
  assert.equal(watch.tooOld(now), true);
  watch.close();
});
