// The cache's ordering rules, step by step over the in-memory filesystem: no timing involved.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DatasetCache } from "./dataset-cache.ts";
import { FakeDatasetFs } from "./testing/fake-dataset-fs.ts";

const MiB = 2 ** 20;
const DIR = "/shm/hive/n1/datasets";

/** Holds every copy once it has copied `atBytes`, until released. */
function holdCopies(fs: FakeDatasetFs, atBytes: number) {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reachedP = new Promise<void>((resolve) => (reached = resolve));
  fs.beforeChunk = async (_to, copied) => {
    if (copied < atBytes) return;
    reached();
    await released;
  };
  return { reached: reachedP, release };
}

function setup(budgetBytes: number) {
  const fs = new FakeDatasetFs()
    .addFile("/data/a", 4 * MiB)
    .addFile("/data/b", 4 * MiB)
    .addFile("/data/c", 4 * MiB);
  const datasets = new DatasetCache({ dir: DIR, budgetBytes, fs, progressStepBytes: MiB });
  return { fs, datasets };
}

describe("DatasetCache ordering rules (in-memory filesystem)", () => {
  test("a shared load goes on when one waiter gives up, and stops when the last one does", async () => {
    const { fs, datasets } = setup(100 * MiB);
    const hold = holdCopies(fs, 2 * MiB);
    const first = new AbortController();
    const second = new AbortController();
    const spec = { id: "a", version: "1", source: "/data/a" };
    const p1 = datasets.load(spec, { signal: first.signal });
    const late: number[] = [];
    const p2 = datasets.load(spec, { signal: second.signal, onProgress: (loaded) => late.push(loaded) });
    await hold.reached;
    first.abort();
    await assert.rejects(p1, { name: "AbortError" });
    assert.equal(datasets.loading().length, 1, "still loading for the second waiter");
    second.abort();
    hold.release();
    await assert.rejects(p2, { name: "AbortError" });
    assert.deepEqual(fs.pathsUnder(DIR), []);
    assert.deepEqual(datasets.loading(), []);
    assert.ok(late.every((v, i) => i === 0 || v >= (late[i - 1] ?? 0)));
  });

  test("one waiter giving up does not stop the load for the other", async () => {
    const { fs, datasets } = setup(100 * MiB);
    const hold = holdCopies(fs, 2 * MiB);
    const quitter = new AbortController();
    const spec = { id: "a", version: "1", source: "/data/a" };
    const p1 = datasets.load(spec, { signal: quitter.signal });
    const p2 = datasets.acquire("a", "1", { source: "/data/a" });
    await hold.reached;
    quitter.abort();
    await assert.rejects(p1, { name: "AbortError" });
    hold.release();
    assert.equal((await p2).bytes, 4 * MiB);
    assert.deepEqual(
      datasets.hot().map((d) => [d.id, d.state]),
      [["a", "in_use"]],
    );
  });

  test("a dataset still loading is never evicted, and counts against the budget", async () => {
    const { fs, datasets } = setup(9 * MiB);
    const hold = holdCopies(fs, 2 * MiB);
    const loadingA = datasets.load({ id: "a", version: "1", source: "/data/a" });
    await hold.reached;
    await assert.rejects(datasets.evict("a", "1"), { message: /being loaded/ });
    fs.beforeChunk = () => Promise.resolve();
    await datasets.load({ id: "b", version: "1", source: "/data/b" });
    // a (loading, 4 MiB reserved) + b (4 MiB) + c (4 MiB) > 9 MiB: b goes, a stays.
    await datasets.load({ id: "c", version: "1", source: "/data/c" });
    hold.release();
    await loadingA;
    assert.deepEqual(
      datasets.hot().map((d) => d.id),
      ["a", "c"],
    );
  });

  test("the load fails when a loading dataset takes the room, naming it", async () => {
    const { fs, datasets } = setup(6 * MiB);
    const hold = holdCopies(fs, MiB);
    const loadingA = datasets.load({ id: "a", version: "1", source: "/data/a" });
    await hold.reached;
    fs.beforeChunk = () => Promise.resolve();
    await assert.rejects(datasets.load({ id: "b", version: "1", source: "/data/b" }), {
      message: /4 MiB is being loaded \(a@1 4 MiB\)/,
    });
    hold.release();
    await loadingA;
  });

  test("a joiner's progress starts where the load is, so it stays monotonic", async () => {
    const { fs, datasets } = setup(100 * MiB);
    const hold = holdCopies(fs, 2 * MiB);
    const spec = { id: "a", version: "1", source: "/data/a" };
    const first = datasets.load(spec);
    await hold.reached;
    const seen: [number, number][] = [];
    const second = datasets.load(spec, { onProgress: (l, t) => seen.push([l, t]) });
    hold.release();
    await Promise.all([first, second]);
    assert.deepEqual(seen, [
      [2 * MiB, 4 * MiB],
      [3 * MiB, 4 * MiB],
      [4 * MiB, 4 * MiB],
    ]);
  });

  test("a filesystem with less free space than the dataset refuses it, whatever the budget", async () => {
    const { fs, datasets } = setup(100 * MiB);
    fs.freeBytes = 3 * MiB;
    await assert.rejects(datasets.load({ id: "a", version: "1", source: "/data/a" }), {
      code: "failed_precondition",
      message: /filesystem of \/shm\/hive\/n1\/datasets has 3 MiB free/,
    });
  });

  test("a hot dataset acquired while a load evicts is kept: the pin wins", async () => {
    const { datasets } = setup(8 * MiB);
    await datasets.load({ id: "a", version: "1", source: "/data/a" });
    await datasets.load({ id: "b", version: "1", source: "/data/b" });
    // c needs room; a is the least recently used, but it is acquired before c is admitted.
    const loadingC = datasets.load({ id: "c", version: "1", source: "/data/c" });
    await datasets.acquire("a", "1");
    await loadingC;
    assert.deepEqual(
      datasets.hot().map((d) => [d.id, d.state]),
      [
        ["a", "in_use"],
        ["c", "idle"],
      ],
    );
  });

  test("an acquire racing the eviction of its dataset gets a dataset that is really there", async () => {
    // Which of the two runs first depends on a few microtasks: try the acquire at several points.
    for (let delay = 0; delay < 6; delay++) {
      const fs = new FakeDatasetFs()
        .addFile("/data/a", 4 * MiB)
        .addFile("/data/b", 4 * MiB)
        .addFile("/data/c", 4 * MiB);
      let acquired: Promise<{ path: string }> | undefined;
      const acquireLater = (n: number): void => {
        if (n > 0) return queueMicrotask(() => acquireLater(n - 1));
        acquired = datasets.acquire("a", "1", { source: "/data/a" });
      };
      const datasets = new DatasetCache({
        dir: DIR,
        budgetBytes: 8 * MiB,
        fs,
        // Acquire a (the least recently used) about when c is admitted and evicts it.
        onEvent: (e) => {
          if (e.type === "loading" && e.id === "c" && e.loadedBytes === 0) acquireLater(delay);
        },
      });
      await datasets.load({ id: "a", version: "1", source: "/data/a" });
      await datasets.load({ id: "b", version: "1", source: "/data/b" });
      await Promise.allSettled([datasets.load({ id: "c", version: "1", source: "/data/c" })]);
      assert.ok(acquired);
      const { path } = await acquired;
      assert.ok(fs.exists(path), `delay ${delay}: ${path} exists`);
      assert.deepEqual(
        datasets.hot().find((d) => d.id === "a"),
        { id: "a", version: "1", bytes: 4 * MiB, path, state: "in_use", users: 1 },
        `delay ${delay}`,
      );
    }
  });
});
