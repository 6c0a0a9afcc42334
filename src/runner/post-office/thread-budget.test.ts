import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import {
  DEFAULT_THREADPOOL_SIZE,
  MAX_THREADPOOL_SIZE,
  NODE_POOL_THREADS,
  recommendedThreadPoolSize,
  subscriberThreads,
  ThreadBudget,
  threadPoolSize,
} from "./thread-budget.ts";

describe("thread budget", () => {
  test("one thread per stable stage and one per remote", () => {
    assert.equal(subscriberThreads(0), 1);
    assert.equal(subscriberThreads(2), 3);
  });

  test("recommends every stage, one route's moving stages and Node's own pool", () => {
    // 10 sockets × (1 stable + 2 remotes) + 2 moving + 4 for Node.
    assert.equal(
      recommendedThreadPoolSize({ subscriberSockets: 10, remotesPerSocket: 2 }),
      30 + 2 + NODE_POOL_THREADS,
    );
    assert.equal(recommendedThreadPoolSize({ subscriberSockets: 0, remotesPerSocket: 0 }), NODE_POOL_THREADS);
    assert.equal(
      recommendedThreadPoolSize({ subscriberSockets: 1000, remotesPerSocket: 3 }),
      MAX_THREADPOOL_SIZE,
    );
  });

  test("reads UV_THREADPOOL_SIZE as libuv does", () => {
    assert.equal(threadPoolSize({}), DEFAULT_THREADPOOL_SIZE);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: "16" }), 16);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: "junk" }), DEFAULT_THREADPOOL_SIZE);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: "0" }), DEFAULT_THREADPOOL_SIZE);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: "5000" }), MAX_THREADPOOL_SIZE);
  });

  test("keeps a thread free and refuses past its limit with a reason", () => {
    const budget = ThreadBudget.forPool(4);
    assert.equal(budget.limit, 3);
    budget.take(3, "three stages");
    assert.equal(budget.free, 0);
    assert.throws(
      () => budget.take(1, "dep/md route tcp://x:1"),
      (err: unknown) =>
        err instanceof HiveError &&
        err.code === ErrorCode.FailedPrecondition &&
        /dep\/md route tcp:\/\/x:1 needs 1 more/.test(err.message),
    );
    budget.release(2);
    assert.equal(budget.held, 1);
    budget.check(2, "fits");
  });

  test("a child budget also takes from, and gives back to, its parent", () => {
    const pool = new ThreadBudget(3);
    const a = new ThreadBudget(2, pool);
    const b = new ThreadBudget(2, pool);
    a.take(2, "a");
    assert.equal(b.free, 1, "the pool has one left for b");
    assert.throws(() => b.take(2, "b"), /needs 2 more/);
    assert.equal(b.held, 0, "a refused take takes nothing");
    b.take(1, "b");
    a.release(2);
    assert.equal(pool.held, 1);
  });
});
