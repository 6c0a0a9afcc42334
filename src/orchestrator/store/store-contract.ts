/**
 * The contract every Store implementation must keep, as a suite of node:test tests that any
 * implementation registers with its own factory (store.test.ts does it for SQLite and memory; the
 * etcd store will do the same). Each test opens a fresh, empty store and closes it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { DatasetSpec } from "../../domain/index.ts";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Store } from "./store.ts";
import type { DeploymentRecord, LayoutRecord } from "./store-records.ts";

/** A factory of fresh, empty stores. */
export type StoreFactory = () => Promise<Store>;

/** A layout record with a nested spec, for tests. */
export function sampleLayout(name: string, over: Partial<LayoutRecord> = {}): LayoutRecord {
  return {
    name,
    source: `name: ${name}\nservices:\n  - name: feeder # a comment the YAML keeps\n`,
    spec: { name, services: [{ name: "feeder", resources: { cpu: 1.5, memory: 268435456 } }], wires: [] },
    generation: 1,
    appliedAt: "2025-01-31T12:00:00.000Z",
    state: "active",
    ...over,
  };
}

/** A deployment record with no optional field, for tests. */
export function sampleDeployment(id: string, over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    id,
    layout: "demo",
    service: "momentum",
    role: "active",
    replica: 0,
    generation: 1,
    nodeId: "live-1",
    epoch: 0n,
    desired: "running",
    restarts: 0,
    createdAt: "2025-01-31T12:00:01.000Z",
    ...over,
  };
}

/** A deployment record with every optional field and an epoch past 2^64, for tests. */
export function fullDeployment(id: string): DeploymentRecord {
  return sampleDeployment(id, {
    role: "standby",
    replica: 2,
    generation: 7,
    epoch: 2n ** 64n + 12345n,
    desired: "stopped",
    restarts: 3,
    lastExit: { code: null, signal: "SIGKILL", reason: "node lost", at: "2025-01-31T12:05:00.000Z" },
    pendingReason: "no live node with 2 free cores",
    addresses: { orders: "tcp://10.0.0.5:40001", market_data: "tcp://10.0.0.5:40002" },
  });
}

/** A dataset catalogue entry, for tests. */
export function sampleDataset(id: string, version = "1"): DatasetSpec {
  return { id, version, source: `/data/${id}/${version}`, size: 6 * 2 ** 30 };
}

/** Asserts that a promise rejects with a HiveError of `code` whose message matches `message`. */
export async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HiveError, `expected a HiveError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Runs a test body on a fresh store from `open`, closing the store whatever the body does. */
export function storeRunner(open: StoreFactory): (fn: (store: Store) => Promise<void>) => Promise<void> {
  return async (fn) => {
    const store = await open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };
}

/** Registers the contract suite, named `name`, for stores made by `open`. */
export function registerStoreContract(name: string, open: StoreFactory): void {
  const withStore = storeRunner(open);

  describe(`Store contract: ${name}`, () => {
    test("layouts round-trip, replace, list sorted and delete", () =>
      withStore(async (store) => {
        assert.equal(await store.getLayout("demo"), undefined);
        await store.putLayout(sampleLayout("demo"));
        assert.deepEqual(await store.getLayout("demo"), sampleLayout("demo"));
        const reapplied = sampleLayout("demo", {
          generation: 2,
          source: "name: demo # changed\n",
          state: "stopping",
        });
        await store.putLayout(reapplied);
        assert.deepEqual(await store.getLayout("demo"), reapplied);
        await store.putLayout(sampleLayout("alpha"));
        assert.deepEqual(
          (await store.listLayouts()).map((l) => [l.name, l.generation]),
          [
            ["alpha", 1],
            ["demo", 2],
          ],
        );
        assert.equal(await store.deleteLayout("demo"), true);
        assert.equal(await store.deleteLayout("demo"), false);
        assert.deepEqual(await store.listLayouts(), [sampleLayout("alpha")]);
      }));

    test("a layout's spec is stored as JSON: what JSON cannot hold is refused", () =>
      withStore(async (store) => {
        await rejectsWith(
          store.putLayout(sampleLayout("demo", { spec: { epoch: 1n } })),
          ErrorCode.InvalidArgument,
          /layout "demo": field "spec"/,
        );
        await rejectsWith(
          store.putLayout(sampleLayout("demo", { generation: 0 })),
          ErrorCode.InvalidArgument,
        );
        assert.equal(await store.getLayout("demo"), undefined);
      }));

    test("records returned are copies: changing one changes nothing stored", () =>
      withStore(async (store) => {
        const rec = sampleLayout("demo");
        await store.putLayout(rec);
        (rec.spec as { name: string }).name = "changed after put";
        const got = await store.getLayout("demo");
        (got?.spec as { name: string }).name = "changed after get";
        assert.deepEqual(await store.getLayout("demo"), sampleLayout("demo"));
        const dep = fullDeployment("d-1");
        await store.putDeployment(dep);
        const read = await store.getDeployment("d-1");
        (read?.addresses as Record<string, string>).orders = "tcp://elsewhere:1";
        assert.deepEqual(await store.getDeployment("d-1"), fullDeployment("d-1"));
      }));

    test("deployments round-trip exactly, optional fields and bigint epochs past 2^53 included", () =>
      withStore(async (store) => {
        const full = fullDeployment("d-full");
        const pending = sampleDeployment("d-pending", { nodeId: null, epoch: 2n ** 53n + 1n });
        await store.putDeployment(full);
        await store.putDeployment(pending);
        assert.deepEqual(await store.getDeployment("d-full"), full);
        const got = await store.getDeployment("d-pending");
        assert.deepEqual(got, pending);
        assert.equal(got?.epoch, 9007199254740993n);
        assert.ok(got && !("lastExit" in got) && !("addresses" in got), "absent fields stay absent");
        assert.equal(await store.getDeployment("nope"), undefined);
        const moved = sampleDeployment("d-pending", { nodeId: "live-2", restarts: 1 });
        await store.putDeployment(moved);
        assert.deepEqual(await store.getDeployment("d-pending"), moved);
      }));

    test("listDeployments filters by layout, by node, by both, and sorts by id", () =>
      withStore(async (store) => {
        await store.putDeployments([
          sampleDeployment("c", { layout: "demo", nodeId: "n1" }),
          sampleDeployment("a", { layout: "demo", nodeId: "n2" }),
          sampleDeployment("b", { layout: "other", nodeId: "n1" }),
          sampleDeployment("d", { layout: "demo", nodeId: null }),
        ]);
        const ids = async (filter?: { layout?: string; nodeId?: string }) =>
          (await store.listDeployments(filter)).map((d) => d.id);
        assert.deepEqual(await ids(), ["a", "b", "c", "d"]);
        assert.deepEqual(await ids({}), ["a", "b", "c", "d"]);
        assert.deepEqual(await ids({ layout: "demo" }), ["a", "c", "d"]);
        assert.deepEqual(await ids({ nodeId: "n1" }), ["b", "c"]);
        assert.deepEqual(await ids({ layout: "demo", nodeId: "n1" }), ["c"]);
        assert.deepEqual(await ids({ layout: "nope" }), []);
        assert.deepEqual(await ids({ layout: undefined, nodeId: "n2" }), ["a"]);
        // A null node (a pending deployment's) is a mistake both stores refuse alike.
        await assert.rejects(
          store.listDeployments({ nodeId: null as unknown as string }),
          /field "nodeId" is null, expected a non-empty string/,
        );
      }));

    test("ids sort the same in every store: by their UTF-8 bytes, as SQLite does", () =>
      withStore(async (store) => {
        // In UTF-16 code units U+1F600 (a surrogate pair, 0xD83D 0xDE00) sorts before U+FF01;
        // in UTF-8 bytes (F0 9F 98 80 against EF BC 81) after it.
        await store.putDeployments([sampleDeployment("a\u{1F600}"), sampleDeployment("a\uFF01")]);
        assert.deepEqual(
          (await store.listDeployments()).map((d) => d.id),
          ["a\uFF01", "a\u{1F600}"],
        );
      }));

    test("deleteDeployment removes one and says whether it existed", () =>
      withStore(async (store) => {
        await store.putDeployments([sampleDeployment("a"), sampleDeployment("b")]);
        assert.equal(await store.deleteDeployment("a"), true);
        assert.equal(await store.deleteDeployment("a"), false);
        assert.deepEqual(
          (await store.listDeployments()).map((d) => d.id),
          ["b"],
        );
      }));

    test("putDeployments is all-or-nothing: one bad record and none is written", () =>
      withStore(async (store) => {
        await store.putDeployment(sampleDeployment("a", { restarts: 1 }));
        await rejectsWith(
          store.putDeployments([
            sampleDeployment("a", { restarts: 2 }),
            sampleDeployment("b"),
            sampleDeployment("c", { epoch: -1n }),
          ]),
          ErrorCode.InvalidArgument,
          /deployment "c": field "epoch" is -1n, expected a bigint >= 0n/,
        );
        assert.deepEqual(await store.listDeployments(), [sampleDeployment("a", { restarts: 1 })]);
        await store.putDeployments([]);
        await store.putDeployments([sampleDeployment("a", { restarts: 2 }), sampleDeployment("b")]);
        assert.deepEqual(
          (await store.listDeployments()).map((d) => [d.id, d.restarts]),
          [
            ["a", 2],
            ["b", 0],
          ],
        );
      }));

    test("a malformed deployment is refused with the field and what was expected", () =>
      withStore(async (store) => {
        const bad = { ...sampleDeployment("d"), role: "leader" } as unknown as DeploymentRecord;
        await rejectsWith(
          store.putDeployment(bad),
          ErrorCode.InvalidArgument,
          /field "role".*one of active, standby/,
        );
        await rejectsWith(store.putDeployment(sampleDeployment("")), ErrorCode.InvalidArgument, /field "id"/);
        await rejectsWith(
          store.putDeployment(sampleDeployment("d", { replica: 1.5 })),
          ErrorCode.InvalidArgument,
          /field "replica" is 1.5, expected an integer >= 0/,
        );
        assert.deepEqual(await store.listDeployments(), []);
      }));

    test("epochs start at 1, only grow, and are independent per key", () =>
      withStore(async (store) => {
        assert.equal(await store.currentEpoch("acct-1"), 0n);
        assert.equal(await store.nextEpoch("acct-1"), 1n);
        assert.equal(await store.nextEpoch("acct-1"), 2n);
        assert.equal(await store.nextEpoch("demo/momentum"), 1n);
        assert.equal(await store.nextEpoch("acct-1"), 3n);
        assert.equal(await store.currentEpoch("acct-1"), 3n);
        assert.equal(await store.currentEpoch("demo/momentum"), 1n);
        assert.equal(await store.currentEpoch("acct-2"), 0n);
        await rejectsWith(store.nextEpoch(""), ErrorCode.InvalidArgument, /field "key"/);
      }));

    test("advanceEpoch moves a sequence forward past a gateway's epoch, never back", () =>
      withStore(async (store) => {
        await store.nextEpoch("fencing");
        assert.equal(await store.advanceEpoch("fencing", 2n ** 64n + 7n), 2n ** 64n + 7n);
        assert.equal(await store.nextEpoch("fencing"), 2n ** 64n + 8n);
        assert.equal(await store.advanceEpoch("fencing", 5n), 2n ** 64n + 8n, "never back");
        assert.equal(await store.currentEpoch("fencing"), 2n ** 64n + 8n);
        assert.equal(await store.advanceEpoch("other", 3n), 3n, "a key never used starts there");
        assert.equal(await store.nextEpoch("other"), 4n);
        await rejectsWith(store.advanceEpoch("fencing", -1n), ErrorCode.InvalidArgument, /epoch/);
        await rejectsWith(store.advanceEpoch("", 1n), ErrorCode.InvalidArgument, /field "key"/);
      }));

    test("the cluster id is a UUID, the same on every call, and another store's is another", async () => {
      await withStore(async (store) => {
        const id = await store.clusterId();
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.equal(await store.clusterId(), id);
        await withStore(async (other) => assert.notEqual(await other.clusterId(), id));
      });
    });

    test("100 concurrent nextEpoch calls get 100 distinct, consecutive epochs", () =>
      withStore(async (store) => {
        await store.nextEpoch("acct-1");
        const epochs = await Promise.all(Array.from({ length: 100 }, () => store.nextEpoch("acct-1")));
        const sorted = [...epochs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        assert.deepEqual(
          sorted,
          Array.from({ length: 100 }, (_, i) => BigInt(i + 2)),
        );
        assert.equal(await store.currentEpoch("acct-1"), 101n);
      }));

    test("the dataset catalogue keeps versions apart, replaces, lists sorted and deletes", () =>
      withStore(async (store) => {
        await store.putDataset(sampleDataset("ticks-2024", "2"));
        await store.putDataset(sampleDataset("ticks-2024", "1"));
        await store.putDataset(sampleDataset("bars"));
        await store.putDataset({ ...sampleDataset("bars"), size: 1024 });
        assert.deepEqual(await store.listDatasets(), [
          { ...sampleDataset("bars"), size: 1024 },
          sampleDataset("ticks-2024", "1"),
          sampleDataset("ticks-2024", "2"),
        ]);
        assert.equal(await store.deleteDataset("ticks-2024", "1"), true);
        assert.equal(await store.deleteDataset("ticks-2024", "1"), false);
        assert.deepEqual(
          (await store.listDatasets()).map((d) => [d.id, d.version]),
          [
            ["bars", "1"],
            ["ticks-2024", "2"],
          ],
        );
        await rejectsWith(
          store.putDataset({ ...sampleDataset("x"), size: -1 }),
          ErrorCode.InvalidArgument,
          /size/,
        );
      }));

    test("draining is idempotent both ways and listed sorted", () =>
      withStore(async (store) => {
        assert.deepEqual(await store.listDraining(), []);
        await store.setDraining("n2", true);
        await store.setDraining("n1", true);
        await store.setDraining("n2", true);
        assert.deepEqual(await store.listDraining(), ["n1", "n2"]);
        await store.setDraining("n2", false);
        await store.setDraining("n3", false);
        assert.deepEqual(await store.listDraining(), ["n1"]);
      }));

    test("close is idempotent, and every call after it is refused", async () => {
      const store = await open();
      await store.putLayout(sampleLayout("demo"));
      await store.close();
      await store.close();
      await rejectsWith(store.getLayout("demo"), ErrorCode.FailedPrecondition, /after close\(\)/);
      await rejectsWith(store.nextEpoch("acct-1"), ErrorCode.FailedPrecondition, /after close\(\)/);
      await rejectsWith(store.clusterId(), ErrorCode.FailedPrecondition, /after close\(\)/);
      await rejectsWith(store.putDeployments([]), ErrorCode.FailedPrecondition);
    });
  });
}
