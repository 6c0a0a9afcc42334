import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../core/testing/fake-clock.ts";
import { QueueWatch } from "./queue-watch.ts";

test("an idle path: the tick keeps the mark fresh, so the next order is not counted as old", () => {
  const clock = new FakeClock();
  const watch = new QueueWatch(clock, 400, () => true);
  clock.advance(60_000); // a minute with nothing to read
  assert.ok(watch.ageBoundMs(clock.now()) <= 100, `bound ${watch.ageBoundMs(clock.now())}`);
  assert.equal(watch.tooOld(clock.now()), false);
  watch.close();
  assert.equal(clock.pending, 0, "no timer left after close");
});

test("orders waiting: the tick does not move the mark, and they turn too old past the bound", () => {
  const clock = new FakeClock();
  let empty = true;
  const watch = new QueueWatch(clock, 400, () => empty);
  clock.advance(100); // a tick while empty
  empty = false; // orders arrive and wait (the loop is stalled)
  clock.advance(400);
  assert.equal(watch.tooOld(clock.now()), false, "exactly the bound is not past it");
  clock.advance(1);
  assert.equal(watch.tooOld(clock.now()), true);
  // The loop drains the queue and finds it empty: fresh again.
  empty = true;
  watch.caughtUp();
  assert.equal(watch.tooOld(clock.now()), false);
  watch.close();
});

test("a stalled main thread: no tick ran, so the first orders afterwards carry the whole stall", () => {
  const clock = new FakeClock();
  const watch = new QueueWatch(clock, 250, () => true);
  watch.caughtUp();
  const stalledAt = clock.now();
  // A stall moves the monotonic clock without running any timer (as SIGSTOP or a long GC does).
  watch.close();
  const after = stalledAt + 900;
  assert.equal(watch.ageBoundMs(after), 900);
  assert.equal(watch.tooOld(after), true);
});
