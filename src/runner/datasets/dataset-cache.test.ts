import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatasetCache } from "./dataset-cache.ts";
import type { DatasetCacheOptions } from "./dataset-cache-options.ts";
import { NodeDatasetFs } from "./dataset-fs.ts";
import type { DatasetEvent } from "./dataset-store.ts";

const MiB = 2 ** 20;

// Real files: under /dev/shm (a tmpfs, as in production) where there is one.
const ROOT = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();

let root: string;
let sources: string;
let caches: DatasetCache[];
let events: DatasetEvent[];

beforeEach(async () => {
  root = await mkdtemp(join(ROOT, "hive-datasets-test-"));
  sources = join(root, "sources");
  await mkdir(sources);
  caches = [];
  events = [];
});

afterEach(async () => {
  for (const cache of caches) await cache.close();
  await rm(root, { recursive: true, force: true });
});

function cache(options: Partial<DatasetCacheOptions> = {}): DatasetCache {
  const c = new DatasetCache({
    dir: join(root, "cache"),
    budgetBytes: 100 * MiB,
    onEvent: (e) => events.push(e),
    ...options,
  });
  caches.push(c);
  return c;
}

/** A source file of `bytes` bytes with a recognisable pattern. */
async function sourceFile(name: string, bytes: number): Promise<string> {
  const path = join(sources, name);
  const content = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4096) content.writeUInt32LE(i, i);
  await writeFile(path, content);
  return path;
}

async function leftovers(): Promise<string[]> {
  return (await readdir(join(root, "cache")).catch(() => [])).filter((n) => n.startsWith(".tmp-"));
}

describe("DatasetCache load", () => {
  test("copies a file with monotonic progress ending at the total, and reports it hot", async () => {
    const source = await sourceFile("prices.bin", 20 * MiB + 123);
    const datasets = cache({ progressStepBytes: 4 * MiB });
    const progress: [number, number][] = [];
    const loaded = await datasets.load(
      { id: "prices", version: "2024-06", source },
      { onProgress: (l, t) => progress.push([l, t]) },
    );
    const total = 20 * MiB + 123;
    assert.equal(loaded.bytes, total);
    assert.equal(loaded.path, join(root, "cache", "prices@2024-06", "prices.bin"));
    assert.deepEqual(await readFile(loaded.path), await readFile(source));
    assert.deepEqual(progress[0], [0, total]);
    assert.deepEqual(progress.at(-1), [total, total]);
    assert.ok(progress.length >= 6, `${progress.length} progress calls`);
    for (let i = 1; i < progress.length; i++) {
      const [prev, now] = [progress[i - 1]?.[0] ?? 0, progress[i]?.[0] ?? 0];
      assert.ok(now > prev, `progress went from ${prev} to ${now}`);
    }
    assert.deepEqual(datasets.hot(), [
      { id: "prices", version: "2024-06", bytes: total, path: loaded.path, state: "idle", users: 0 },
    ]);
    assert.deepEqual(datasets.loading(), []);
    assert.deepEqual(
      events.filter((e) => e.type !== "loading"),
      [{ type: "hot", id: "prices", version: "2024-06", bytes: total, path: loaded.path }],
    );
  });

  test("a large file reports progress at least every 64 MiB by default", async () => {
    const source = join(sources, "big.bin");
    await writeFile(source, "");
    await truncate(source, 200 * MiB); // sparse: quick to read, really written to the tmpfs
    const datasets = cache({ budgetBytes: 256 * MiB });
    const seen: number[] = [];
    await datasets.load({ id: "big", version: "1", source }, { onProgress: (loaded) => seen.push(loaded) });
    assert.equal(seen[0], 0);
    assert.equal(seen.at(-1), 200 * MiB);
    // One read chunk (4 MiB) of slack over the step.
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i] ?? 0) - (seen[i - 1] ?? 0) <= 68 * MiB);
    assert.ok(seen.length >= 4);
  });

  test("copies a directory tree, empty directories included; the path is the directory", async () => {
    const tree = join(sources, "book");
    await mkdir(join(tree, "2024", "06"), { recursive: true });
    await mkdir(join(tree, "empty"));
    await writeFile(join(tree, "index.json"), "{}\n");
    await writeFile(join(tree, "2024", "06", "day1.bin"), Buffer.alloc(1000, 7));
    const datasets = cache();
    const loaded = await datasets.load({ id: "book", version: "v1/rc@2", source: tree });
    assert.equal(loaded.path, join(root, "cache", "book@v1%2Frc%402"));
    assert.equal(loaded.bytes, 1003);
    assert.deepEqual(await readFile(join(loaded.path, "2024", "06", "day1.bin")), Buffer.alloc(1000, 7));
    assert.deepEqual(await readdir(join(loaded.path, "empty")), []);
    assert.equal(datasets.hot()[0]?.version, "v1/rc@2");
  });

  test("concurrent loads of one dataset share one copy; another version is another dataset", async () => {
    const source = await sourceFile("ticks.bin", 3 * MiB);
    let copies = 0;
    const fs = new (class extends NodeDatasetFs {
      override copyFile(...args: Parameters<NodeDatasetFs["copyFile"]>): Promise<void> {
        copies++;
        return super.copyFile(...args);
      }
    })();
    const datasets = cache({ fs });
    const spec = { id: "ticks", version: "1", source };
    const results = await Promise.all([
      datasets.load(spec),
      datasets.load(spec),
      datasets.acquire("ticks", "1", { source }),
    ]);
    assert.equal(copies, 1);
    assert.equal(new Set(results.map((r) => r.path)).size, 1);
    assert.equal(events.filter((e) => e.type === "hot").length, 1);
    await datasets.load({ ...spec, version: "2" });
    assert.equal(copies, 2);
    assert.deepEqual(
      datasets.hot().map((d) => [d.version, d.state, d.users]),
      [
        ["1", "in_use", 1],
        ["2", "idle", 0],
      ],
    );
  });

  test("a missing source is a not_found naming it, and leaves nothing behind", async () => {
    const datasets = cache();
    const source = join(sources, "nope.bin");
    await assert.rejects(
      datasets.load({ id: "nope", version: "1", source }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "not_found");
        assert.match(err.message, /nope@1/);
        assert.ok(err.message.includes(source));
        return true;
      },
    );
    assert.deepEqual(datasets.hot(), []);
    assert.deepEqual(await readdir(join(root, "cache")), []);
    assert.equal(events.at(-1)?.type, "failed");
  });

  test("an invalid id is refused before anything is touched", async () => {
    await assert.rejects(cache().load({ id: "../etc", version: "1", source: "/etc/passwd" }), {
      code: "invalid_argument",
    });
  });
});

describe("DatasetCache budget", () => {
  test("evicts the least recently used idle dataset under pressure (budget fits 2 of 3)", async () => {
    const datasets = cache({ budgetBytes: 5 * MiB });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => sourceFile(`${n}.bin`, 2 * MiB)));
    const A = await datasets.load({ id: "a", version: "1", source: a ?? "" });
    await datasets.load({ id: "b", version: "1", source: b ?? "" });
    await datasets.load({ id: "a", version: "1", source: a ?? "" }); // a is now more recent than b
    await datasets.load({ id: "c", version: "1", source: c ?? "" });
    assert.deepEqual(
      datasets.hot().map((d) => d.id),
      ["a", "c"],
    );
    assert.ok(existsSync(A.path));
    assert.ok(!existsSync(join(root, "cache", "b@1")) && !existsSync(join(root, "cache", "b@1.json")));
    assert.deepEqual(
      events.filter((e) => e.type === "evicted"),
      [{ type: "evicted", id: "b", version: "1", bytes: 2 * MiB, reason: "pressure" }],
    );
    assert.equal(datasets.usedBytes(), 4 * MiB);
  });

  test("never evicts a dataset in use: the load fails saying budget, size and what is pinned", async () => {
    const datasets = cache({ budgetBytes: 5 * MiB });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => sourceFile(`${n}.bin`, 2 * MiB)));
    await datasets.acquire("a", "1", { source: a ?? "" });
    await datasets.acquire("b", "1", { source: b ?? "" });
    await assert.rejects(
      datasets.load({ id: "c", version: "1", source: c ?? "" }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "failed_precondition");
        assert.match(err.message, /c@1 \(2 MiB\) does not fit the dataset budget of 5 MiB/);
        assert.match(err.message, /4 MiB is pinned by running processes \(a@1 2 MiB, b@1 2 MiB\)/);
        return true;
      },
    );
    assert.deepEqual(
      datasets.hot().map((d) => [d.id, d.state]),
      [
        ["a", "in_use"],
        ["b", "in_use"],
      ],
    );
    assert.deepEqual(await leftovers(), []);
    datasets.release("a", "1");
    await datasets.load({ id: "c", version: "1", source: c ?? "" });
    assert.deepEqual(
      datasets.hot().map((d) => d.id),
      ["b", "c"],
    );
  });

  test("a dataset larger than the whole budget evicts nothing", async () => {
    const datasets = cache({ budgetBytes: 3 * MiB });
    await datasets.load({ id: "small", version: "1", source: await sourceFile("s.bin", MiB) });
    await assert.rejects(
      datasets.load({ id: "huge", version: "1", source: await sourceFile("h.bin", 4 * MiB) }),
      {
        code: "failed_precondition",
      },
    );
    assert.deepEqual(
      datasets.hot().map((d) => d.id),
      ["small"],
    );
  });
});

describe("DatasetCache acquire, release, evict", () => {
  test("acquire pins (loading first if needed), release unpins; a stray release is refused", async () => {
    const datasets = cache();
    const source = await sourceFile("x.bin", 1000);
    await assert.rejects(datasets.acquire("x", "1"), { code: "not_found" });
    const first = await datasets.acquire("x", "1", { source });
    const again = await datasets.acquire("x", "1");
    assert.equal(again.path, first.path);
    assert.deepEqual(datasets.hot()[0]?.users, 2);
    datasets.release("x", "1");
    datasets.release("x", "1");
    assert.equal(datasets.hot()[0]?.state, "idle");
    assert.throws(() => datasets.release("x", "1"), { code: "failed_precondition" });
  });

  test("evict refuses a dataset in use, drops an idle one, and is false for one not there", async () => {
    const datasets = cache();
    const source = await sourceFile("x.bin", 1000);
    const { path } = await datasets.acquire("x", "1", { source });
    await assert.rejects(datasets.evict("x", "1"), (err: Error & { code?: string }) => {
      assert.equal(err.code, "failed_precondition");
      assert.match(err.message, /cannot evict dataset x@1 .*in use by 1 process/);
      return true;
    });
    assert.ok(existsSync(path));
    datasets.release("x", "1");
    assert.equal(await datasets.evict("x", "1"), true);
    assert.ok(!existsSync(path));
    assert.deepEqual(await readdir(join(root, "cache")), []);
    assert.equal(await datasets.evict("x", "1"), false);
    assert.deepEqual(events.at(-1), {
      type: "evicted",
      id: "x",
      version: "1",
      bytes: 1000,
      reason: "requested",
    });
  });
});

describe("DatasetCache cancellation and shutdown", () => {
  test("aborting a load mid-copy rejects with the abort reason and leaves no partial directory", async () => {
    const source = await sourceFile("big.bin", 32 * MiB);
    const datasets = cache({ progressStepBytes: MiB });
    const controller = new AbortController();
    let abortedAt = 0;
    const load = datasets.load(
      { id: "big", version: "1", source },
      {
        signal: controller.signal,
        onProgress: (loaded) => {
          if (loaded > 0 && abortedAt === 0) {
            abortedAt = loaded;
            controller.abort();
          }
        },
      },
    );
    await assert.rejects(load, { name: "AbortError" });
    assert.ok(abortedAt > 0 && abortedAt < 32 * MiB);
    assert.deepEqual(await readdir(join(root, "cache")), []);
    assert.deepEqual(datasets.hot(), []);
    assert.deepEqual(datasets.loading(), []);
    assert.equal(datasets.usedBytes(), 0);
    // And it can be loaded afresh.
    assert.equal((await datasets.load({ id: "big", version: "1", source })).bytes, 32 * MiB);
  });

  test("a source that grows while it is copied is refused, not stored over the budget", async () => {
    const source = await sourceFile("growing.bin", 8 * MiB);
    const datasets = cache({ budgetBytes: 20 * MiB, progressStepBytes: MiB });
    let grown = false;
    const load = datasets.load(
      { id: "growing", version: "1", source },
      {
        onProgress: (loaded) => {
          if (loaded > 0 && !grown) {
            grown = true;
            appendFileSync(source, Buffer.alloc(40 * MiB)); // still being written by someone
          }
        },
      },
    );
    await assert.rejects(
      load,
      /its source .* grew while it was copied \(more than the 8388608 bytes measured/,
    );
    assert.ok(grown);
    assert.equal(datasets.usedBytes(), 0);
    assert.deepEqual(datasets.hot(), []);
    assert.deepEqual(await readdir(join(root, "cache")), [], "no partial copy left");
  });

  test("an already aborted signal starts nothing", async () => {
    const datasets = cache();
    const source = await sourceFile("x.bin", 10);
    await assert.rejects(datasets.load({ id: "x", version: "1", source }, { signal: AbortSignal.abort() }), {
      name: "AbortError",
    });
    assert.equal(events.length, 0);
  });

  test("close stops loads in progress without leaving partial copies, and refuses new calls", async () => {
    const source = await sourceFile("big.bin", 32 * MiB);
    const datasets = cache({ progressStepBytes: MiB });
    let closing: Promise<void> | undefined;
    const load = datasets.load(
      { id: "big", version: "1", source },
      { onProgress: (loaded) => void (loaded > 0 && (closing ??= datasets.close())) },
    );
    await assert.rejects(load, { code: "failed_precondition", message: /closed/ });
    await closing;
    assert.deepEqual(await leftovers(), []);
    await assert.rejects(datasets.load({ id: "big", version: "1", source }), { message: /is closed/ });
  });
});

describe("DatasetCache adoptExisting", () => {
  test("a restarted runner re-reports complete datasets and removes incomplete ones", async () => {
    const first = cache();
    const a = await first.load({ id: "a", version: "1", source: await sourceFile("a.bin", 3000) });
    const tree = join(sources, "tree");
    await mkdir(tree);
    await writeFile(join(tree, "f"), "12345");
    await first.load({ id: "b", version: "2", source: tree });
    await first.close();
    // What a crash leaves: a copy in progress, a renamed copy without its manifest, a manifest
    // without its copy. And a file that is not ours.
    const dir = join(root, "cache");
    await mkdir(join(dir, ".tmp-c@1-123-abc"));
    await writeFile(join(dir, ".tmp-c@1-123-abc", "part"), "xx");
    await mkdir(join(dir, "d@1"));
    await writeFile(join(dir, "e@1.json"), "{}");
    await writeFile(join(dir, "README"), "not a dataset");

    const second = cache();
    const adopted = await second.adoptExisting();
    assert.deepEqual(
      adopted.map((d) => [d.id, d.version, d.bytes, d.path, d.state]),
      [
        ["a", "1", 3000, a.path, "idle"],
        ["b", "2", 5, join(dir, "b@2"), "idle"],
      ],
    );
    assert.deepEqual((await readdir(dir)).sort(), ["README", "a@1", "a@1.json", "b@2", "b@2.json"]);
    // Usable at once, without a source.
    assert.equal((await second.acquire("a", "1")).path, a.path);
    await assert.rejects(second.adoptExisting(), { code: "failed_precondition" });
  });

  test("datasets beyond a lowered budget are evicted, oldest loaded first", async () => {
    const first = cache();
    await first.load({ id: "old", version: "1", source: await sourceFile("o.bin", 2 * MiB) });
    await first.load({ id: "new", version: "1", source: await sourceFile("n.bin", 2 * MiB) });
    await first.close();
    const second = cache({ budgetBytes: 3 * MiB });
    assert.deepEqual(
      (await second.adoptExisting()).map((d) => d.id),
      ["new"],
    );
    assert.ok(events.some((e) => e.type === "evicted" && e.id === "old" && e.reason === "over_budget"));
  });

  test("a lowered budget never drops a dataset a re-adopted process still reads", async () => {
    const first = cache();
    await first.load({ id: "old", version: "1", source: await sourceFile("o2.bin", 2 * MiB) });
    await first.load({ id: "new", version: "1", source: await sourceFile("n2.bin", 2 * MiB) });
    await first.close();
    const second = cache({ budgetBytes: 3 * MiB });
    const inUse = [{ id: "old", version: "1" }];
    assert.deepEqual(
      (await second.adoptExisting({ inUse })).map((d) => d.id),
      ["old"],
      "the newer one goes instead",
    );
  });
});

describe("DatasetCache storage", () => {
  test("says whether its directory is RAM-backed and how much is free", async () => {
    const info = await cache().storage();
    assert.ok(info.freeBytes > 0);
    if (ROOT === "/dev/shm") assert.equal(info.ramBacked, true);
  });

  test("removeAll deletes the directory", async () => {
    const datasets = cache();
    await datasets.load({ id: "x", version: "1", source: await sourceFile("x.bin", 10) });
    await datasets.removeAll();
    assert.ok(!existsSync(join(root, "cache")));
  });
});
