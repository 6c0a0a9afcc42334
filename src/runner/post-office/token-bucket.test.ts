import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../core/testing/fake-clock.ts";
import { TokenBucket } from "./token-bucket.ts";

test("a full bucket lets the burst through at once, then refuses until time refills it", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ordersPerSecond: 10, burst: 3 }, clock.now());
  assert.deepEqual(
    [1, 2, 3, 4].map(() => bucket.take(clock.now())),
    [true, true, true, false],
  );
  clock.advance(99); // 0.99 of a token
  assert.equal(bucket.take(clock.now()), false);
  clock.advance(1);
  assert.equal(bucket.take(clock.now()), true);
  assert.equal(bucket.take(clock.now()), false);
});

test("the sustained rate is ordersPerSecond whatever the burst", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ordersPerSecond: 50, burst: 5 }, clock.now());
  let taken = 0;
  // Ten seconds of a strategy trying every millisecond.
  for (let ms = 0; ms < 10_000; ms++) {
    if (bucket.take(clock.now())) taken++;
    clock.advance(1);
  }
  assert.equal(taken, 5 + 50 * 10 - 1);
});

test("a quiet spell refills up to the burst, never beyond", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ordersPerSecond: 1_000, burst: 4 }, clock.now());
  for (let i = 0; i < 4; i++) assert.ok(bucket.take(clock.now()));
  clock.advance(60_000);
  let taken = 0;
  while (bucket.take(clock.now())) taken++;
  assert.equal(taken, 4);
});

test("a fractional rate: one order every two seconds", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ordersPerSecond: 0.5, burst: 1 }, clock.now());
  assert.ok(bucket.take(clock.now()));
  clock.advance(1_999);
  assert.equal(bucket.take(clock.now()), false);
  clock.advance(1);
  assert.ok(bucket.take(clock.now()));
});

test("a clock read earlier than the last refills nothing", () => {
  const bucket = new TokenBucket({ ordersPerSecond: 1_000, burst: 1 }, 5_000);
  assert.ok(bucket.take(5_000));
  assert.equal(bucket.take(4_000), false);
  assert.equal(bucket.tokens, 0);
});
