import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { ErrorCode } from "../../core/hive-error.ts";
import { SCHEMA_VERSION } from "./sqlite-schema.ts";
import { openSqliteStore } from "./sqlite-store.ts";
import {
  fullDeployment,
  rejectsWith,
  sampleDataset,
  sampleDeployment,
  sampleLayout,
} from "./store-contract.ts";

const root = mkdtempSync(join(tmpdir(), "hive-sqlite-store-"));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;
const newPath = (name = "hive.db") => join(root, `case-${++files}`, name);
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Runs `fn` on a raw connection to a closed store's file (to tamper with it). */
function withRawFile(path: string, fn: (db: Database.Database) => void): void {
  const db = new Database(path);
  try {
    fn(db);
  } finally {
    db.close();
  }
}

test("creates the file and its directories, in WAL mode, synchronous FULL, locked exclusively", async () => {
  const path = join(root, "nested", "deeper", "hive.db");
  const store = await openSqliteStore(path);
  try {
    assert.ok(existsSync(path));
    assert.equal(store.kind, "sqlite");
    assert.equal(store.path, path);
    assert.deepEqual(store.pragmas(), { journalMode: "wal", synchronous: 2, lockingMode: "exclusive" });
  } finally {
    await store.close();
  }
  withRawFile(path, (db) => {
    assert.equal(db.prepare("SELECT version FROM schema_version").pluck().get(), SCHEMA_VERSION);
  });
});

test("everything survives a close and a reopen, and the next epoch continues", async () => {
  const path = newPath();
  const first = await openSqliteStore(path);
  await first.putLayout(sampleLayout("demo", { generation: 3 }));
  await first.putDeployments([fullDeployment("d-1"), sampleDeployment("d-2", { nodeId: null })]);
  await first.putDataset(sampleDataset("ticks-2024"));
  await first.setDraining("data-2", true);
  for (let i = 0; i < 5; i++) await first.nextEpoch("acct-1");
  await first.nextEpoch("demo/momentum");
  const clusterId = await first.clusterId();
  await first.close();

  const second = await openSqliteStore(path);
  try {
    assert.deepEqual(await second.listLayouts(), [sampleLayout("demo", { generation: 3 })]);
    assert.deepEqual(await second.listDeployments(), [
      fullDeployment("d-1"),
      sampleDeployment("d-2", { nodeId: null }),
    ]);
    assert.deepEqual(await second.listDatasets(), [sampleDataset("ticks-2024")]);
    assert.deepEqual(await second.listDraining(), ["data-2"]);
    assert.equal(await second.currentEpoch("acct-1"), 5n);
    assert.equal(await second.nextEpoch("acct-1"), 6n);
    assert.equal(await second.nextEpoch("demo/momentum"), 2n);
    assert.equal(await second.clusterId(), clusterId, "the cluster id is made once");
  } finally {
    await second.close();
  }
});

test("every epoch acknowledged before a SIGKILL survives it", async () => {
  const path = newPath();
  const fixture = fileURLToPath(new URL("./testing/next-epoch-crash-child.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", fixture, path, "acct-1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<string>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? `code ${code}`)),
  );
  // Kill it as soon as it has printed 25 epochs: the kill lands while it is allocating more.
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    if (out.split("\n").length > 25) child.kill("SIGKILL");
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const how = await exited;
  clearTimeout(timer);
  assert.equal(how, "SIGKILL", `the child ended by ${how}; stderr: ${err}`);

  const printed = out
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => BigInt(line));
  assert.ok(printed.length >= 25, `the child printed ${printed.length} epochs; stderr: ${err}`);
  assert.deepEqual(
    printed,
    printed.map((_, i) => BigInt(i + 1)),
    "epochs 1, 2, 3, ... in order",
  );
  const lastPrinted = printed[printed.length - 1] ?? 0n;

  // The WAL the killed process left behind is replayed on open.
  const store = await openSqliteStore(path);
  try {
    const current = await store.currentEpoch("acct-1");
    assert.ok(current >= lastPrinted, `current epoch ${current} < last acknowledged ${lastPrinted}`);
    assert.equal(await store.nextEpoch("acct-1"), current + 1n);
  } finally {
    await store.close();
  }
});

test("a file in use by another store is refused, naming the file, and free again once closed", async () => {
  const path = newPath();
  const first = await openSqliteStore(path);
  try {
    await rejectsWith(
      openSqliteStore(path, { busyTimeoutMs: 50 }),
      ErrorCode.Unavailable,
      new RegExp(`store ${literal(path)}: cannot open, the file is locked.*another orchestrator`),
    );
    assert.equal(await first.nextEpoch("acct-1"), 1n, "the first store is unharmed");
  } finally {
    await first.close();
  }
  const again = await openSqliteStore(path);
  assert.equal(await again.currentEpoch("acct-1"), 1n);
  await again.close();
});

test("a file that is not a database is refused, naming the file", async () => {
  const path = newPath();
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "this is a layout file, not a database\n".repeat(200));
  await rejectsWith(
    openSqliteStore(path),
    ErrorCode.FailedPrecondition,
    new RegExp(`store ${literal(path)}: cannot open, the file is not a readable SQLite database`),
  );
});

test("a store written by a newer Hive is refused, naming both schema versions", async () => {
  const path = newPath();
  await (await openSqliteStore(path)).close();
  withRawFile(path, (db) => db.prepare("UPDATE schema_version SET version = ?").run(SCHEMA_VERSION + 1));
  await rejectsWith(
    openSqliteStore(path),
    ErrorCode.FailedPrecondition,
    new RegExp(
      `store ${literal(path)} has schema version ${SCHEMA_VERSION + 1}, written by a newer Hive; this one reads up to version ${SCHEMA_VERSION}`,
    ),
  );
  withRawFile(path, (db) => {
    assert.equal(
      db.prepare("SELECT version FROM schema_version").pluck().get(),
      SCHEMA_VERSION + 1,
      "not downgraded",
    );
  });
});

test("an SQLite database of another program is refused, not adopted", async () => {
  const path = newPath("other.db");
  mkdirSync(join(path, ".."), { recursive: true });
  withRawFile(path, (db) => db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY)"));
  await rejectsWith(
    openSqliteStore(path),
    ErrorCode.FailedPrecondition,
    /is an SQLite database of something else \(tables: orders\)/,
  );
});

test("a store of schema 2 gets a cluster id of its own on its upgrade, and keeps it", async () => {
  const path = newPath();
  const made = await openSqliteStore(path);
  await made.nextEpoch("fencing");
  await made.close();
  // As a file written before the cluster id existed.
  withRawFile(path, (db) => {
    db.exec("DROP TABLE cluster");
    db.prepare("UPDATE schema_version SET version = 2").run();
  });
  const upgraded = await openSqliteStore(path);
  const id = await upgraded.clusterId();
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(await upgraded.currentEpoch("fencing"), 1n, "nothing else changed");
  await upgraded.close();
  const reopened = await openSqliteStore(path);
  assert.equal(await reopened.clusterId(), id);
  await reopened.close();
});
