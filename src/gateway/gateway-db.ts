/**
 * The gateway's state on disk: one SQLite file, `<state>/gateway.db` (better-sqlite3), holding the
 * fence table (with the node key each fence binds), kill switches, the port of each node's orders
 * socket, every client order id seen, the gateway's
 * books, the audit log, and the paper broker's own tables (paper-broker.ts).
 *
 * Durability: `journal_mode = WAL` and `synchronous = FULL`, so a commit has fsynced the log
 * before it returns; the gateway replies only after the commit of the batch that decided the
 * reply, so whatever it acknowledged survives a SIGKILL or a power cut. Unlike the orchestrator's
 * store, locking is NORMAL (shared memory WAL index), so `hive gateway audit` can read while the
 * gateway runs. Two gateways on one state directory are prevented by a second file,
 * `gateway.lock`, held open in EXCLUSIVE locking mode for the gateway's lifetime (the OS drops it
 * when the process dies, even by SIGKILL).
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { fsyncDirectorySync } from "../core/fsync.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";

/**
 * SQLite's automatic checkpoint threshold (pages) while the checkpointer's worker is not running
 * (wal-checkpointer.ts turns it off while it runs, and back on if it fails).
 */
export const AUTO_CHECKPOINT_PAGES = 10_000;

/** The database file inside a state directory. */
export const DB_FILE = "gateway.db";
const LOCK_FILE = "gateway.lock";

/**
 * 2 added `orders.consumed_at_ms` (for the retention of consumed ids); 3 keys `orders` by
 * (consumed_at_ms, account, client_order_id): a new order's row is an append at the end of the
 * table and retention is a range at its start, so no second index is kept up to date per order
 * (one B-tree page fewer in every commit: about 50 µs of an order's round trip at 5,000 orders/s,
 * docs/benchmarks.md). Duplicates are found in memory (the core loads every consumed id), never
 * through this key (until 5). 4 binds fences to nodes: `fences.node_key` (null in rows written before) and
 * the `node_ports` of their orders sockets; the `runners` table of authorized keys is gone (a key
 * is admitted while a fence names it). 5 (issue 17) finds duplicates on disk: the index
 * `orders_by_id` on (account, client_order_id), the partial index `orders_live` of the orders not
 * final (start-up reads those, not every id), and `order_id_counts`, the ids each (account,
 * deployment) retains (order-ids.ts): the core no longer holds every id in memory.
 */
const SCHEMA_VERSION = 5;

/** The orders table of schema 3 (the consumed client order ids, with their status). */
const ORDERS_TABLE = `CREATE TABLE IF NOT EXISTS orders (
  consumed_at_ms INTEGER NOT NULL, account TEXT NOT NULL, client_order_id TEXT NOT NULL,
  status TEXT NOT NULL, deployment_id TEXT NOT NULL, epoch TEXT NOT NULL, symbol TEXT NOT NULL,
  side TEXT NOT NULL, qty REAL NOT NULL, type TEXT NOT NULL, price REAL,
  PRIMARY KEY (consumed_at_ms, account, client_order_id)) WITHOUT ROWID;`;

/**
 * The indexes of schema 5 on the orders table: duplicates are looked up by id, and the live
 * orders (submitted, unknown, resting: a few) are read at start-up without a scan.
 */
const ORDER_INDEXES = `
CREATE INDEX IF NOT EXISTS orders_by_id ON orders (account, client_order_id);
CREATE INDEX IF NOT EXISTS orders_live ON orders (account) WHERE status IN ('submitted', 'unknown', 'resting');
CREATE TABLE IF NOT EXISTS order_id_counts (
  account TEXT NOT NULL, deployment_id TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (account, deployment_id)) WITHOUT ROWID;`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fences (
  account TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, epoch TEXT NOT NULL, fenced_at_ms INTEGER NOT NULL,
  node_key TEXT);
CREATE TABLE IF NOT EXISTS kills (account TEXT PRIMARY KEY, reason TEXT NOT NULL, killed_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS node_ports (public_key TEXT PRIMARY KEY, port INTEGER NOT NULL);
${ORDERS_TABLE}
${ORDER_INDEXES}
CREATE TABLE IF NOT EXISTS positions (
  account TEXT NOT NULL, symbol TEXT NOT NULL, qty REAL NOT NULL, PRIMARY KEY (account, symbol)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, outcome TEXT NOT NULL, code TEXT,
  account TEXT, client_order_id TEXT, deployment_id TEXT, epoch TEXT, detail TEXT,
  received_at_ms REAL, decided_at_ms REAL NOT NULL);
`;

/** The open database of a state directory, and its lock. */
export interface GatewayDb {
  readonly db: Database.Database;
  readonly path: string;
  /** Closes the database, then releases the lock. */
  close(): void;
}

/** Opens (creating and migrating) the state directory's database; fails if another gateway holds it. */
export function openGatewayDb(stateDir: string): GatewayDb {
  const dir = resolve(stateDir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `gateway state ${dir}: cannot create it: ${String(err)}`,
      {
        cause: err,
      },
    );
  }
  const lock = takeLock(dir);
  const path = join(dir, DB_FILE);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: 5_000 });
    // SQLite's default page size, said outright (files made before 2026-11-25 have 1 KiB pages,
    // which made a small batch's commit a quarter of the bytes; at full load the smaller pages
    // cost about 10% of the gateway's throughput in splits and WAL frames, and the latency at a
    // fixed rate did not tell the two apart: docs/benchmarks.md). Takes effect only on a new file.
    db.pragma("page_size = 4096");
    const mode: unknown = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal")
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${path}: journal_mode is ${String(mode)} after asking for wal; expected a file system where SQLite can use a WAL`,
      );
    db.pragma("synchronous = FULL");
    // A checkpoint runs inside the commit that crosses the threshold, on the event loop: fewer,
    // larger ones (10,000 pages: 40 MB of WAL with 4 KiB pages, against SQLite's default 1,000)
    // touch fewer orders' latency. A running gateway
    // turns them off and checkpoints on a worker thread instead (wal-checkpointer.ts).
    db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    db.exec(SCHEMA);
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as
      string | undefined;
    if (version === undefined)
      db.prepare("INSERT INTO meta VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
    else if ([1, 2, 3, 4].includes(Number(version))) migrate(db, Number(version), Date.now());
    else if (Number(version) !== SCHEMA_VERSION) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${path}: schema version ${version}, expected ${SCHEMA_VERSION}; this gateway is too old or too new for it`,
      );
    }
    fsyncDirectorySync(dir);
  } catch (err) {
    if (db?.open) db.close();
    lock.close();
    throw HiveError.from(err, ErrorCode.FailedPrecondition);
  }
  const opened = db;
  return {
    db: opened,
    path,
    close: () => {
      if (opened.open) opened.close();
      lock.close();
    },
  };
}

/**
 * Brings a file of schema 1 to 4 to 5, in one transaction (a crash leaves it as it was):
 * - 1 → 2: consumed ids get the time they were consumed. Ids of a version-1 file count as
 *   consumed at the upgrade, so each is kept a whole retention period from then;
 * - 2 → 3: the orders table is copied into its new key (and the index on consumed_at_ms it no
 *   longer needs goes with the old table). A copy of every consumed id: seconds for millions;
 * - 3 → 4: fences get `node_key`, null for every existing row: each still holds its account at
 *   its epoch (lower epochs are still refused), bound to no node until the orchestrator fences
 *   it again naming its node (it does so when it reads a fence of its active naming no node, or
 *   another key, live-failover.ts). The authorized runner keys are dropped: from 4 on, a key is
 *   admitted while a fence names it;
 * - 4 → 5: the indexes are built (by SCHEMA, before this) and `order_id_counts` is filled from
 *   the rows: one pass over the table, seconds for millions of ids, once.
 */
function migrate(db: Database.Database, from: number, nowMs: number): void {
  db.transaction(() => {
    if (from === 1) {
      db.exec("ALTER TABLE orders ADD COLUMN consumed_at_ms INTEGER NOT NULL DEFAULT 0");
      db.prepare("UPDATE orders SET consumed_at_ms = ?").run(nowMs);
    }
    if (from <= 2) {
      db.exec("ALTER TABLE orders RENAME TO orders_v2");
      db.exec(ORDERS_TABLE);
      db.exec(
        "INSERT INTO orders (consumed_at_ms, account, client_order_id, status, deployment_id, epoch, symbol, side, qty, type, price) " +
          "SELECT consumed_at_ms, account, client_order_id, status, deployment_id, epoch, symbol, side, qty, type, price FROM orders_v2",
      );
      db.exec("DROP TABLE orders_v2");
      db.exec(ORDER_INDEXES);
    }
    // A file with no fences table before had it created by SCHEMA just now, with the column.
    const columns = db.prepare("SELECT name FROM pragma_table_info('fences')").pluck().all();
    if (!columns.includes("node_key")) db.exec("ALTER TABLE fences ADD COLUMN node_key TEXT");
    db.exec("DROP TABLE IF EXISTS runners");
    db.exec("DELETE FROM order_id_counts");
    db.exec(
      "INSERT INTO order_id_counts (account, deployment_id, n) SELECT account, deployment_id, count(*) FROM orders GROUP BY account, deployment_id",
    );
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(SCHEMA_VERSION));
  })();
}

/** Opens the database for reading only (the audit command), without taking the lock. */
export function openGatewayDbReadOnly(stateDir: string): Database.Database {
  const path = join(resolve(stateDir), DB_FILE);
  try {
    return new Database(path, { readonly: true, fileMustExist: true, timeout: 5_000 });
  } catch (err) {
    throw new HiveError(
      ErrorCode.NotFound,
      `${path}: cannot open: ${(err as Error).message}; expected the state directory of a gateway`,
      { cause: err },
    );
  }
}

/** Reads a value of the meta table. */
export function readMeta(db: Database.Database, key: string): string | undefined {
  return db.prepare("SELECT value FROM meta WHERE key = ?").pluck().get(key) as string | undefined;
}

/** Writes a value of the meta table. */
export function writeMeta(db: Database.Database, key: string, value: string): void {
  db.prepare(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  ).run(key, value);
}

function takeLock(dir: string): { close(): void } {
  const path = join(dir, LOCK_FILE);
  let lock: Database.Database | undefined;
  try {
    lock = new Database(path, { timeout: 0 });
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE; COMMIT");
  } catch (err) {
    if (lock?.open) lock.close();
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `gateway state ${dir} is in use by another gateway (${path} is locked); expected one gateway per state directory`,
      { cause: err },
    );
  }
  const held = lock;
  return { close: () => held.open && held.close() };
}
