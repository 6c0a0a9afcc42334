/**
 * The retention of consumed client order ids, against a real gateway (ZeroMQ on 127.0.0.1, a real
 * SQLite file) whose wall clock the test moves: an id is a duplicate for the retention period,
 * then forgotten (in memory and on disk); a live order is never forgotten; a restart after the
 * period loads none of the old ids; the paper broker forgets with the gateway; and a version-1
 * state file is migrated with its ids kept.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { GatewayClient } from "./control-client.ts";
import { compileGatewayConfig } from "./gateway-config.ts";
import { DB_FILE, openGatewayDb } from "./gateway-db.ts";
import { startGateway, type RunningGateway } from "./gateway-server.ts";
import { envelope, OrderClient, type Reply } from "./testing/order-client.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
// The stale-order check compares the runner's stamp with the gateway's clock, which the test
// moves: it is off here.
const config = compileGatewayConfig({ orderIdRetentionDays: 1, maxOrderAgeMs: 0 });

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hive-gw-ret-"));
  dirs.push(d);
  return d;
}

/** A gateway on `dir` whose clock is `clock.now`, fenced to dep-a@`epoch` for account A. */
async function gateway(dir: string, clock: { offsetMs: number }, epoch = 1n) {
  const gw: RunningGateway = await startGateway({
    stateDir: dir,
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    insecure: true,
    config,
    now: () => Date.now() + clock.offsetMs,
  });
  const control = new GatewayClient({ address: gw.controlAddress });
  const runner = new OrderClient(gw.ordersAddress);
  gw.setPrice("ESZ6", 100);
  await control.fence("A", "dep-a", epoch);
  const order = async (clientOrderId: string, fields: { type?: "limit"; price?: number } = {}) => {
    const from = runner.replies.length;
    await runner.send(envelope("dep-a", epoch, { account: "A", clientOrderId, ...fields }));
    return runner.next(
      (r: Reply) => r.clientOrderId === clientOrderId && ["ack", "reject", "duplicate"].includes(r.type),
      5_000,
      from,
    );
  };
  const close = async () => {
    await runner.close();
    await control.close();
    await gw.close();
  };
  return { gw, order, close };
}

function orderRows(dir: string): string[] {
  const db = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    return db
      .prepare("SELECT client_order_id FROM orders ORDER BY client_order_id")
      .pluck()
      .all() as string[];
  } finally {
    db.close();
  }
}

test("an id is a duplicate within the retention, forgotten after it; a live order is kept; a restart loads none", async () => {
  const dir = stateDir();
  const clock = { offsetMs: 0 };
  const a = await gateway(dir, clock);
  try {
    assert.equal((await a.order("filled-1")).type, "ack");
    // A buy limit far below the market rests: live, so never forgotten.
    assert.equal((await a.order("resting-1", { type: "limit", price: 1 })).type, "ack");
    clock.offsetMs = DAY_MS - 60_000; // a minute short of the retention
    assert.equal((await a.order("filled-1")).type, "duplicate");
    clock.offsetMs = DAY_MS + 60_000; // a minute past it
    // The batch that takes this order forgets first: the id is new again.
    assert.equal((await a.order("filled-1")).type, "ack");
    assert.equal((await a.order("resting-1")).type, "duplicate", "a live order's id is kept");
    assert.equal(a.gw.status().orderIdsForgotten, 1);
    assert.equal(a.gw.status().orderIdsKept, 2);
    // The paper broker forgot it with the gateway, so the reuse executed, and was no duplicate there.
    assert.equal(a.gw.paper?.figures().duplicateSubmissions, 0);
    assert.equal(a.gw.paper.figures().orders, 2);
  } finally {
    await a.close();
  }
  // On disk: the first filled-1 row went, its reuse (consumed just now) and the resting one stay.
  assert.deepEqual(orderRows(dir), ["filled-1", "resting-1"]);

  // Two more days on, a restart forgets the reused id before loading anything.
  clock.offsetMs = 3 * DAY_MS + 120_000;
  const b = await gateway(dir, clock, 2n);
  try {
    assert.deepEqual(orderRows(dir), ["resting-1"]);
    assert.equal((await b.order("filled-1")).type, "ack", "forgotten at start, so new");
    assert.equal(b.gw.paper?.figures().duplicateSubmissions, 0);
  } finally {
    await b.close();
  }
});

test("retention 0 keeps every id forever", async () => {
  const dir = stateDir();
  const clock = { offsetMs: 0 };
  const forever = compileGatewayConfig({ orderIdRetentionDays: 0, maxOrderAgeMs: 0 });
  assert.equal(forever.orderIdRetentionMs, 0);
  const gw = await startGateway({
    stateDir: dir,
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    insecure: true,
    config: forever,
    now: () => Date.now() + clock.offsetMs,
  });
  const control = new GatewayClient({ address: gw.controlAddress });
  const runner = new OrderClient(gw.ordersAddress);
  try {
    gw.setPrice("ESZ6", 100);
    await control.fence("A", "dep-a", 1n);
    const send = async () => {
      const from = runner.replies.length;
      await runner.send(envelope("dep-a", 1n, { account: "A", clientOrderId: "kept" }));
      return runner.next((r) => r.clientOrderId === "kept" && r.type !== "fill", 5_000, from);
    };
    assert.equal((await send()).type, "ack");
    clock.offsetMs = 365 * DAY_MS;
    assert.equal((await send()).type, "duplicate");
  } finally {
    await runner.close();
    await control.close();
    await gw.close();
  }
});

/**
 * A state file of an older schema, as that gateway left it: the schema mark and its orders table
 * (version 2 added consumed_at_ms and its index), with `rows` (SQL value tuples) in it.
 */
function legacyStateFile(dir: string, version: 1 | 2, ...rows: string[]): void {
  const db = new Database(join(dir, DB_FILE));
  db.exec(`
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('schema', '${version}');
    CREATE TABLE orders (
      account TEXT NOT NULL, client_order_id TEXT NOT NULL, status TEXT NOT NULL,
      deployment_id TEXT NOT NULL, epoch TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
      qty REAL NOT NULL, type TEXT NOT NULL, price REAL,
      ${version === 2 ? "consumed_at_ms INTEGER NOT NULL DEFAULT 0," : ""}
      PRIMARY KEY (account, client_order_id)) WITHOUT ROWID;
    ${version === 2 ? "CREATE INDEX orders_by_consumed ON orders (consumed_at_ms);" : ""}
    ${rows.map((r) => `INSERT INTO orders VALUES ${r};`).join("\n")}
  `);
  db.close();
}

test("a version-1 state file is migrated: its ids are kept a whole retention from the upgrade", async () => {
  const dir = stateDir();
  // The version-1 orders table, with one consumed id and the schema mark.
  legacyStateFile(dir, 1, "('A', 'old-1', 'filled', 'dep-a', '1', 'ESZ6', 'buy', 1, 'market', NULL)");
  const before = Date.now();
  const opened = openGatewayDb(dir);
  try {
    const db = opened.db;
    assert.equal(db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get(), "5");
    const consumedAt = db
      .prepare("SELECT consumed_at_ms FROM orders WHERE client_order_id = 'old-1'")
      .pluck()
      .get() as number;
    assert.ok(consumedAt >= before && consumedAt <= Date.now(), `consumed_at_ms ${consumedAt}`);
  } finally {
    opened.close();
  }
  const clock = { offsetMs: DAY_MS - 60_000 };
  const g = await gateway(dir, clock);
  try {
    assert.equal((await g.order("old-1")).type, "duplicate", "still known within the retention");
  } finally {
    await g.close();
  }
});

test("a version-2 state file is migrated to the time-keyed orders table: ids, statuses and times kept, the index gone", async () => {
  const dir = stateDir();
  const consumedAt = Date.now() - 60_000;
  legacyStateFile(
    dir,
    2,
    `('A', 'v2-filled', 'filled', 'dep-a', '1', 'ESZ6', 'buy', 1, 'market', NULL, ${consumedAt})`,
    `('A', 'v2-resting', 'resting', 'dep-a', '1', 'ESZ6', 'sell', 2, 'limit', 101.5, ${consumedAt + 1})`,
  );
  const opened = openGatewayDb(dir);
  try {
    const db = opened.db;
    assert.equal(db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get(), "5");
    assert.deepEqual(
      db.prepare("SELECT consumed_at_ms, account, client_order_id, status, price FROM orders").raw().all(),
      [
        [consumedAt, "A", "v2-filled", "filled", null],
        [consumedAt + 1, "A", "v2-resting", "resting", 101.5],
      ],
    );
    assert.equal(
      db
        .prepare("SELECT count(*) FROM sqlite_master WHERE name IN ('orders_by_consumed', 'orders_v2')")
        .pluck()
        .get(),
      0,
    );
    // Schema 5: the ids are indexed for lookups (the old index went with its table) and counted.
    assert.deepEqual(
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE tbl_name = 'orders' AND type = 'index' AND sql IS NOT NULL ORDER BY name",
        )
        .pluck()
        .all(),
      ["orders_by_id", "orders_live"],
    );
    assert.deepEqual(db.prepare("SELECT account, deployment_id, n FROM order_id_counts").raw().all(), [
      ["A", "dep-a", 2],
    ]);
  } finally {
    opened.close();
  }
  const g = await gateway(dir, { offsetMs: 0 });
  try {
    assert.equal((await g.order("v2-filled")).type, "duplicate", "a consumed id is still a duplicate");
    assert.equal(g.gw.status().orderIdsKept, 2);
  } finally {
    await g.close();
  }
});

test("a version-4 state file gets the id index and the counts of its retained ids", () => {
  const dir = stateDir();
  const first = openGatewayDb(dir);
  // A version-4 file: no index on the ids, no counts.
  first.db.exec(`
    DROP INDEX orders_by_id; DROP INDEX orders_live; DROP TABLE order_id_counts;
    UPDATE meta SET value = '4' WHERE key = 'schema';
    INSERT INTO orders VALUES (1, 'A', 'v4-1', 'filled', 'dep-a', '1', 'ESZ6', 'buy', 1, 'market', NULL);
    INSERT INTO orders VALUES (2, 'A', 'v4-2', 'resting', 'dep-b', '1', 'ESZ6', 'buy', 1, 'limit', 1);
    INSERT INTO orders VALUES (3, 'B', 'v4-3', 'filled', 'dep-b', '1', 'ESZ6', 'buy', 1, 'market', NULL);
  `);
  first.close();
  const opened = openGatewayDb(dir);
  try {
    const db = opened.db;
    assert.equal(db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get(), "5");
    assert.deepEqual(
      db
        .prepare("SELECT account, deployment_id, n FROM order_id_counts ORDER BY account, deployment_id")
        .raw()
        .all(),
      [
        ["A", "dep-a", 1],
        ["A", "dep-b", 1],
        ["B", "dep-b", 1],
      ],
    );
    const plan = db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT status FROM orders WHERE account = 'A' AND client_order_id = 'v4-1'",
      )
      .all() as { detail: string }[];
    assert.match(plan.map((p) => p.detail).join("; "), /USING (COVERING )?INDEX orders_by_id/);
    // Start-up reads the live orders through their partial index, not by a scan of every id.
    const live = db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT account, client_order_id FROM orders WHERE status IN ('submitted', 'unknown', 'resting')",
      )
      .all() as { detail: string }[];
    assert.match(live.map((p) => p.detail).join("; "), /USING INDEX orders_live/);
  } finally {
    opened.close();
  }
});
