import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ErrorCode } from "../../core/hive-error.ts";
import { openStore } from "./open-store.ts";
import { rejectsWith } from "./store-contract.ts";

const root = mkdtempSync(join(tmpdir(), "hive-open-store-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("memory: opens the fake", async () => {
  const store = await openStore("memory:");
  assert.equal(store.kind, "memory");
  await store.close();
});

test("sqlite:<path> and sqlite:///<path> open the file", async () => {
  for (const [url, path] of [
    [`sqlite:${join(root, "a.db")}`, join(root, "a.db")],
    [`sqlite://${join(root, "b", "b.db")}`, join(root, "b", "b.db")],
  ] as const) {
    const store = await openStore(url);
    try {
      assert.equal(store.kind, "sqlite");
      assert.equal(await store.nextEpoch("k"), 1n);
      assert.ok(existsSync(path), `${url} creates ${path}`);
    } finally {
      await store.close();
    }
  }
});

test("etcd:// is refused until the etcd store exists", async () => {
  await rejectsWith(
    openStore("etcd://10.0.0.1:2379,10.0.0.2:2379"),
    ErrorCode.InvalidArgument,
    /etcd store not built yet/,
  );
});

test("anything else is refused with the forms expected", async () => {
  for (const url of [
    "",
    "sqlite:",
    "sqlite://host/x.db",
    "memory:x",
    "postgres://db/hive",
    "/var/lib/hive.db",
  ]) {
    await rejectsWith(
      openStore(url),
      ErrorCode.InvalidArgument,
      /expected "sqlite:\/path\/to\/hive.db" or "memory:"/,
    );
  }
});
