/**
 * The SQLite store's schema and its migrations. The file records its schema version in a one-row
 * `schema_version` table; opening a file migrates it forward one version at a time, all in one
 * transaction (SQLite's DDL is transactional), so a crash mid-migration leaves the old schema.
 * A file from a newer Hive (a higher version) is refused, never downgraded.
 *
 * To change the schema: append a migration with the next version; never edit a released one.
 */
import type BetterSqlite3 from "better-sqlite3";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/** One step of the schema: the SQL that takes a file from `version - 1` to `version`. */
interface Migration {
  readonly version: number;
  readonly sql: string;
}

// STRICT tables: SQLite refuses a value of the wrong type instead of converting it.
// Epochs are TEXT decimals: a fencing epoch is a bigint and must round-trip exactly, even past
// 2^53 (a JS number) and 2^63 (an SQLite INTEGER).
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE layouts (
        name        TEXT PRIMARY KEY,
        source      TEXT NOT NULL,
        spec        TEXT NOT NULL,
        generation  INTEGER NOT NULL,
        applied_at  TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('active', 'stopping'))
      ) STRICT;

      CREATE TABLE deployments (
        id              TEXT PRIMARY KEY,
        layout          TEXT NOT NULL,
        service         TEXT NOT NULL,
        role            TEXT NOT NULL CHECK (role IN ('active', 'standby')),
        replica         INTEGER NOT NULL,
        generation      INTEGER NOT NULL,
        node_id         TEXT,
        epoch           TEXT NOT NULL,
        desired         TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
        restarts        INTEGER NOT NULL,
        created_at      TEXT NOT NULL,
        last_exit       TEXT,
        pending_reason  TEXT,
        addresses       TEXT
      ) STRICT;
      CREATE INDEX deployments_by_layout ON deployments (layout);
      CREATE INDEX deployments_by_node ON deployments (node_id);

      CREATE TABLE epochs (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
      ) STRICT;

      CREATE TABLE datasets (
        id       TEXT NOT NULL,
        version  TEXT NOT NULL,
        source   TEXT NOT NULL,
        size     INTEGER NOT NULL,
        PRIMARY KEY (id, version)
      ) STRICT;

      CREATE TABLE draining_nodes (
        node_id  TEXT PRIMARY KEY
      ) STRICT;
    `,
  },
  {
    // Issue 16: the HTTP API's tokens (hashed) and its audit trail (auth-records.ts).
    version: 2,
    sql: `
      CREATE TABLE api_tokens (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'trader', 'admin')),
        secret_hash  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT
      ) STRICT;
      CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

      -- AUTOINCREMENT: a sequence number is never given twice, even after the oldest are trimmed,
      -- so a reader paging with ?after= never skips or repeats an entry.
      CREATE TABLE audit (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          TEXT NOT NULL,
        anonymous   INTEGER NOT NULL CHECK (anonymous IN (0, 1)),
        token_id    TEXT,
        token_name  TEXT,
        role        TEXT,
        remote      TEXT NOT NULL,
        method      TEXT NOT NULL,
        route       TEXT NOT NULL,
        params      TEXT NOT NULL,
        status      INTEGER NOT NULL,
        error_code  TEXT
      ) STRICT;
      CREATE INDEX audit_by_class ON audit (anonymous, seq);
    `,
  },
  {
    // Issue 17: the cluster id the gateways know this control plane by (store.ts). One row, made
    // here, in the migration's transaction: a store has it from the moment it exists, and an
    // older file gets its own on its upgrade. randomblob(16) is SQLite's CSPRNG; the text is a
    // version-4 UUID, as crypto.randomUUID() makes for the memory store.
    version: 3,
    sql: `
      CREATE TABLE cluster (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        cluster_id  TEXT NOT NULL
      ) STRICT;
      INSERT INTO cluster (id, cluster_id)
        SELECT 1, lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' ||
          substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12))
        FROM (SELECT hex(randomblob(16)) AS h);
    `,
  },
];

/** The schema version this code writes (the last migration's). */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

function readVersion(db: BetterSqlite3.Database): number {
  const table = db
    .prepare<[], { n: number }>(
      "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
    )
    .get();
  if (table?.n !== 1) return 0;
  return (
    db.prepare<[], { version: number }>("SELECT version FROM schema_version WHERE id = 1").get()?.version ?? 0
  );
}

/**
 * Brings the file at `path` (open as `db`) to {@link SCHEMA_VERSION}. Refuses a newer schema, and
 * a database that holds tables but no `schema_version` (some other program's file).
 */
export function migrate(db: BetterSqlite3.Database, path: string): void {
  db.transaction(() => {
    const current = readVersion(db);
    if (current > SCHEMA_VERSION) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `store ${path} has schema version ${current}, written by a newer Hive; this one reads up to version ${SCHEMA_VERSION}: upgrade this orchestrator, or point --store at another file`,
      );
    }
    if (current === 0) {
      const tables = db
        .prepare<[], { name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .all();
      if (tables.length > 0) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `store ${path} is an SQLite database of something else (tables: ${tables.map((t) => t.name).join(", ")}), expected a Hive store or a new file`,
        );
      }
      db.exec(
        "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT",
      );
    }
    for (const migration of MIGRATIONS) {
      if (migration.version > current) db.exec(migration.sql);
    }
    if (current !== SCHEMA_VERSION) {
      db.prepare("INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, ?)").run(SCHEMA_VERSION);
    }
  }).immediate();
}
