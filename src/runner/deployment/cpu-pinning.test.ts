import assert from "node:assert/strict";
import { test } from "node:test";
import { CpuPinning } from "./cpu-pinning.ts";

test("the lowest CPUs stay shared; pinned cores are handed out once each", () => {
  const p = new CpuPinning([3, 0, 2, 1], 3);
  assert.deepEqual(p.pinnable, [1, 2, 3]);
  assert.deepEqual(p.pin("a", 2), [1, 2]);
  assert.deepEqual(p.pin("b", 1), [3]);
  assert.throws(() => p.pin("c", 1), /c needs 1 pinned core\(s\); 0 of 3 pinnable are free/);
  p.release("a");
  assert.equal(p.free, 2);
  assert.deepEqual(p.pin("c", 2), [1, 2]);
  assert.deepEqual(p.pinnedTo("c"), [1, 2]);
});

test("restored pins (re-adopted processes) are not handed out again", () => {
  const p = new CpuPinning([0, 1], 1);
  p.restore("old", [1]);
  assert.throws(() => p.pin("new", 1), /0 of 1 pinnable are free/);
});

test("no pinned cores asked: nothing pinned; more pinnable than CPUs is refused", () => {
  assert.deepEqual(new CpuPinning([0, 1], 1).pin("a", 0), []);
  assert.throws(() => new CpuPinning([0, 1], 3), /found 3, expected at most the node's 2 CPUs/);
});
