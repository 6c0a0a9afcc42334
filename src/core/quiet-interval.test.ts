import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { QuietInterval } from "./quiet-interval.ts";

test("the first event of a key passes, the rest of its interval is counted, and the next pass says how many", () => {
  let now = 0;
  const q = new QuietInterval(1_000, () => now);
  assert.equal(q.pass("a"), 0);
  assert.equal(q.pass("a"), undefined);
  assert.equal(q.pass("b"), 0, "keys are independent");
  now = 999;
  assert.equal(q.pass("a"), undefined);
  now = 1_000;
  assert.equal(q.pass("a"), 2, "two were quiet since the last line");
  assert.equal(q.pass("a"), undefined);
});

test("whatever the times, passes are an interval apart and passed plus quiet counts every event", () => {
  fc.assert(
    fc.property(fc.array(fc.nat(300), { maxLength: 200 }), (steps) => {
      let now = 0;
      const q = new QuietInterval(100, () => now);
      let lastPass = -Infinity;
      let counted = 0;
      for (const step of steps) {
        now += step;
        const r = q.pass("k");
        if (r === undefined) continue;
        assert.ok(now - lastPass >= 100);
        lastPass = now;
        counted += 1 + r;
      }
      // The quiet ones after the last pass are not reported yet: at most the events since it.
      assert.ok(counted <= steps.length);
      now += 100;
      counted += (q.pass("k") ?? 0) + 1;
      assert.equal(counted, steps.length + 1);
    }),
  );
});
