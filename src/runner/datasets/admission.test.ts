import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { describeNoRoom, planAdmission, type Resident } from "./admission.ts";

const r = (name: string, bytes: number, lastUse: number, more: Partial<Resident> = {}): Resident => ({
  name,
  bytes,
  lastUse,
  state: "hot",
  users: 0,
  ...more,
});

describe("planAdmission", () => {
  test("fits without evicting when there is room", () => {
    assert.deepEqual(planAdmission([r("a", 3, 1)], 5, 10), { fits: true, victims: [] });
  });

  test("evicts idle datasets least recently used first, only as many as needed", () => {
    const plan = planAdmission([r("new", 3, 9), r("old", 3, 1), r("mid", 3, 5)], 4, 10);
    assert.deepEqual(plan.fits && plan.victims.map((v) => v.name), ["old"]);
    const more = planAdmission([r("new", 3, 9), r("old", 3, 1), r("mid", 3, 5)], 7, 10);
    assert.deepEqual(more.fits && more.victims.map((v) => v.name), ["old", "mid"]);
  });

  test("never plans to evict a pinned or loading dataset; says which ones hold the room", () => {
    const pinned = r("p", 4, 1, { users: 2 });
    const loading = r("l", 3, 0, { state: "loading" });
    const plan = planAdmission([pinned, loading, r("idle", 2, 5)], 4, 10);
    assert.deepEqual(plan, { fits: false, pinned: [pinned], loading: [loading] });
    assert.ok(!plan.fits);
    assert.equal(
      describeNoRoom("x@1", 4, 10, "/shm/d", plan),
      "dataset x@1 (4 B) does not fit the dataset budget of 10 B in /shm/d: 4 B is pinned by running " +
        "processes (p 4 B) and 3 B is being loaded (l 3 B); evicting every idle dataset would leave 3 B",
    );
  });

  test("a dataset larger than the budget never fits, even in an empty cache", () => {
    assert.deepEqual(planAdmission([], 11, 10), { fits: false, pinned: [], loading: [] });
  });
});
