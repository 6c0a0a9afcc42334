import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertUidRange, MAX_DEPLOYMENT_UID, UidAllocator } from "./uid-allocator.ts";

describe("UidAllocator", () => {
  test("gives each owner a uid of its own (and the gid of the same number), the same one when asked again", () => {
    const a = new UidAllocator({ first: 20_000, last: 20_009 });
    const x = a.allocate("dep-x");
    const y = a.allocate("dep-y");
    assert.deepEqual(x, { uid: 20_000, gid: 20_000 });
    assert.deepEqual(y, { uid: 20_001, gid: 20_001 });
    assert.deepEqual(a.allocate("dep-x"), x);
    assert.equal(a.holderOf(20_001), "dep-y");
    assert.equal(a.held, 2);
  });

  test("a released uid is not handed out again until the range has gone round", () => {
    const a = new UidAllocator({ first: 1, last: 3 });
    a.allocate("a");
    a.release("a");
    assert.equal(a.allocate("b").uid, 2);
    assert.equal(a.allocate("c").uid, 3);
    assert.equal(a.allocate("d").uid, 1, "round again: the first, free since");
  });

  test("refuses when every uid is held, naming the range; a release makes room", () => {
    const a = new UidAllocator({ first: 100, last: 101 });
    a.allocate("a");
    a.allocate("b");
    assert.throws(
      () => a.allocate("c"),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "failed_precondition");
        assert.match(err.message, /no free deployment uid for c: all 2 uids of the range 100-101 are held/);
        return true;
      },
    );
    a.release("a");
    assert.equal(a.allocate("c").uid, 100);
  });

  test("reserve takes a re-adopted deployment's uid back, so nobody else gets it", () => {
    const a = new UidAllocator({ first: 10, last: 12 });
    a.reserve("old", { uid: 10, gid: 10 });
    assert.equal(a.allocate("new").uid, 11);
    assert.throws(() => a.reserve("other", { uid: 10, gid: 10 }), /uid 10 of other is held by old/);
    assert.throws(
      () => a.reserve("far", { uid: 50, gid: 50 }),
      /outside this runner's deployment uid range 10-12/,
    );
    assert.throws(() => a.reserve("odd", { uid: 12, gid: 0 }), /outside/);
  });

  test("a range must never hold 0 nor (uid_t)-1, and first <= last", () => {
    for (const bad of [
      { first: 0, last: 10 },
      { first: 5, last: 4 },
      { first: 1, last: MAX_DEPLOYMENT_UID + 1 },
      { first: 1.5, last: 3 },
    ]) {
      assert.throws(() => assertUidRange(bad), { code: "invalid_argument" }, JSON.stringify(bad));
      assert.throws(() => new UidAllocator(bad), { code: "invalid_argument" });
    }
    assert.doesNotThrow(() => assertUidRange({ first: 1, last: MAX_DEPLOYMENT_UID }));
  });
});
