import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FakeDatasetCache } from "./fake-dataset-cache.ts";
import type { DatasetStore } from "../dataset-store.ts";

describe("FakeDatasetCache", () => {
  test("loads declared sources at once, pins, refuses to evict what is in use", async () => {
    const fake = new FakeDatasetCache().addSource("/data/a", 100);
    const store: DatasetStore = fake;
    const progress: number[] = [];
    const loaded = await store.acquire("a", "1", { source: "/data/a", onProgress: (l) => progress.push(l) });
    assert.deepEqual(loaded, { path: "/fake/datasets/a@1", bytes: 100 });
    assert.deepEqual(progress, [0, 100]);
    assert.deepEqual(fake.loads, [{ id: "a", version: "1", source: "/data/a" }]);
    assert.deepEqual(store.hot(), [
      { id: "a", version: "1", bytes: 100, path: "/fake/datasets/a@1", state: "in_use", users: 1 },
    ]);
    await assert.rejects(store.evict("a", "1"), { code: "failed_precondition" });
    store.release("a", "1");
    assert.equal(await store.evict("a", "1"), true);
    assert.equal(await store.evict("a", "1"), false);
  });

  test("an undeclared source is not_found; acquiring what is not hot needs a source", async () => {
    const store = new FakeDatasetCache();
    await assert.rejects(store.load({ id: "x", version: "1", source: "/nope" }), { code: "not_found" });
    await assert.rejects(store.acquire("x", "1"), { code: "not_found" });
    assert.throws(() => store.release("x", "1"), { code: "failed_precondition" });
  });
});
