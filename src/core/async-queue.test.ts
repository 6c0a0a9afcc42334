import assert from "node:assert/strict";
import { test } from "node:test";
import { AsyncQueue } from "./async-queue.ts";
import { backoffDelay, sleep } from "./backoff.ts";

test("queued items are delivered in order, then the iteration ends on close", async () => {
  const q = new AsyncQueue<number>();
  q.push(1);
  q.push(2);
  setTimeout(() => {
    q.push(3);
    q.close();
  }, 5);
  const got: number[] = [];
  for await (const n of q) got.push(n);
  assert.deepEqual(got, [1, 2, 3]);
  assert.throws(() => q.push(4), /closed/);
});

test("a falsy item is delivered, not mistaken for the end", async () => {
  const q = new AsyncQueue<number>();
  q.push(0);
  q.close();
  const got: number[] = [];
  for await (const n of q) got.push(n);
  assert.deepEqual(got, [0]);
});

test("fail ends a waiting consumer with the error", async () => {
  const q = new AsyncQueue<string>();
  setTimeout(() => q.fail(new Error("link lost")), 5);
  await assert.rejects(async () => {
    for await (const _ of q) assert.fail("nothing was pushed");
  }, /link lost/);
});

test("backoff grows to its cap, jittered below it, never zero", () => {
  const o = { initialMs: 100, maxMs: 1_000 };
  assert.equal(backoffDelay(0, o, 0.999), 99);
  assert.equal(backoffDelay(3, o, 0.5), 400);
  assert.equal(backoffDelay(20, o, 0.5), 500);
  assert.equal(backoffDelay(5, o, 0), 1);
});

test("sleep is cancelled by its signal", async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(new Error("shutting down")), 5);
  await assert.rejects(sleep(10_000, ac.signal), /shutting down/);
  assert.ok(Date.now() - t0 < 5_000);
});
