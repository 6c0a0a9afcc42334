/**
 * The embedded store: one SQLite file (better-sqlite3), the default for one orchestrator.
 *
 * Durability. The file is opened with:
 * - `journal_mode = WAL`: a commit appends to the write-ahead log instead of rewriting pages, and
 *   one fsync of the log commits it;
 * - `synchronous = FULL`: in WAL mode every commit fsyncs the log before it returns. (NORMAL would
 *   sync only at checkpoints: safe against a crash of the process, but a power cut could lose the
 *   last commits, so an epoch already handed to the gateway could be handed out again.) So when a
 *   write's promise resolves (`nextEpoch` above all) the write is on disk. The price is one fsync
 *   per write, and the store writes on applies, placements, exits and failovers, not on heartbeats;
 * - `locking_mode = EXCLUSIVE`: the file stays locked from open to close, so a second orchestrator
 *   pointed at the same file fails at once (unavailable, naming the file) instead of both driving
 *   the same deployments. The OS drops the lock when the process dies, even by SIGKILL. (It also
 *   keeps the WAL index in this process's memory: there is no `-shm` file.)
 * A new file's directory is fsynced too, so the file itself survives a power cut.
 *
 * better-sqlite3 is synchronous: each method does its work (and its fsync) before it returns a
 * settled promise, which also makes every method atomic with respect to every other call.
 */
import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { DatasetSpec } from "../../domain/index.ts";
import { fsyncDirectory } from "../../core/fsync.ts";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import {
  checkDatasetSpec,
  checkDeploymentRecord,
  checkEpoch,
  checkFilter,
  checkKey,
  checkLayoutRecord,
} from "./record-checks.ts";
import {
  checkAuditInput,
  checkAuditQuery,
  checkKeep,
  checkTokenRecord,
  type ApiTokenRecord,
  type AuditEntry,
  type AuditInput,
  type AuditQuery,
} from "./auth-records.ts";
import { SqliteAuthStatements } from "./sqlite-auth-statements.ts";
import { sqliteFailure } from "./sqlite-errors.ts";
import { migrate } from "./sqlite-schema.ts";
import type { Store } from "./store.ts";
import type { DeploymentFilter, DeploymentRecord, LayoutRecord } from "./store-records.ts";
import { SqliteStatements } from "./sqlite-statements.ts";

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** How long to wait for a lock held by someone else before failing (default 1000 ms). */
  readonly busyTimeoutMs?: number;
}

/** The pragmas in force on an open SqliteStore (for tests and `hive status`). */
export interface SqlitePragmas {
  /** "wal". */
  readonly journalMode: string;
  /** 2, that is FULL. */
  readonly synchronous: number;
  /** "exclusive". */
  readonly lockingMode: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false; // missing (or unreadable: opening it then says why)
  }
}

/** The desired-state store on one SQLite file. Open it with {@link openSqliteStore}. */
export class SqliteStore implements Store {
  /** Always "sqlite". */
  readonly kind = "sqlite" as const;
  readonly #db: Database.Database;
  readonly #sql: SqliteStatements;
  readonly #auth: SqliteAuthStatements;

  private constructor(
    /** The absolute path of the file. */
    readonly path: string,
    db: Database.Database,
  ) {
    this.#db = db;
    this.#sql = new SqliteStatements(db);
    this.#auth = new SqliteAuthStatements(db);
  }

  /** Opens (creating it and its directory if needed) and migrates the store at `path`. */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const file = resolve(path);
    try {
      await mkdir(dirname(file), { recursive: true });
    } catch (err) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `store ${file}: cannot create its directory ${dirname(file)}: ${(err as Error).message}; expected a path this user may write`,
        { cause: err },
      );
    }
    const isNew = !(await exists(file));
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { timeout: options.busyTimeoutMs ?? 1000 });
      // EXCLUSIVE before the first WAL access, so the WAL index is never put in shared memory.
      db.pragma("locking_mode = EXCLUSIVE");
      const mode: unknown = db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal") {
        // Internal, with the message sqliteFailure gave the plain Error this used to be.
        throw new HiveError(
          ErrorCode.Internal,
          `store ${file}: open failed: journal_mode is ${String(mode)} after asking for wal`,
        );
      }
      db.pragma("synchronous = FULL");
      // Take the exclusive lock now (and keep it), rather than at the first write.
      db.exec("BEGIN EXCLUSIVE; COMMIT");
      const check: unknown = db.pragma("quick_check", { simple: true });
      if (check !== "ok") {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `store ${file} is damaged (quick_check: ${String(check)}); expected a healthy Hive store: restore a backup, or move it aside to start empty`,
        );
      }
      migrate(db, file);
      if (isNew) await fsyncDirectory(dirname(file));
      return new SqliteStore(file, db);
    } catch (err) {
      // Closing releases the lock; the error that matters is the one that made us close.
      if (db?.open) db.close();
      throw sqliteFailure(file, "open", err);
    }
  }

  /** Runs one operation: rejects once closed, names the file and the action on any failure. */
  #run<T>(action: string, fn: () => T): Promise<T> {
    try {
      if (!this.#db.open) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `store ${this.path}: ${action} after close(), expected a store that is still open`,
        );
      }
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(sqliteFailure(this.path, action, err));
    }
  }

  /** The pragmas in force (journal mode, synchronous level, locking mode). */
  pragmas(): SqlitePragmas {
    return {
      journalMode: String(this.#db.pragma("journal_mode", { simple: true })),
      synchronous: Number(this.#db.pragma("synchronous", { simple: true })),
      lockingMode: String(this.#db.pragma("locking_mode", { simple: true })),
    };
  }

  /** The cluster id, made when the file was (or on its upgrade to schema 3). */
  clusterId(): Promise<string> {
    return this.#run("clusterId", () => this.#sql.clusterId());
  }

  /** Creates or replaces a layout. */
  putLayout(rec: LayoutRecord): Promise<void> {
    return this.#run(`putLayout ${JSON.stringify(rec.name)}`, () =>
      this.#sql.putLayout(checkLayoutRecord(rec)),
    );
  }

  /** The layout of that name, or undefined. */
  getLayout(name: string): Promise<LayoutRecord | undefined> {
    return this.#run(`getLayout ${JSON.stringify(name)}`, () => this.#sql.getLayout(name));
  }

  /** Every layout, sorted by name. */
  listLayouts(): Promise<LayoutRecord[]> {
    return this.#run("listLayouts", () => this.#sql.listLayouts());
  }

  /** Deletes a layout; true if it existed. */
  deleteLayout(name: string): Promise<boolean> {
    return this.#run(`deleteLayout ${JSON.stringify(name)}`, () => this.#sql.deleteLayout(name));
  }

  /** Creates or replaces a deployment. */
  putDeployment(rec: DeploymentRecord): Promise<void> {
    return this.#run(`putDeployment ${JSON.stringify(rec.id)}`, () =>
      this.#sql.putDeployment(checkDeploymentRecord(rec)),
    );
  }

  /** Creates or replaces several deployments in one transaction. */
  putDeployments(recs: readonly DeploymentRecord[]): Promise<void> {
    return this.#run(`putDeployments (${recs.length})`, () => {
      const copies = recs.map(checkDeploymentRecord);
      this.#db.transaction(() => {
        for (const copy of copies) this.#sql.putDeployment(copy);
      })();
    });
  }

  /** The deployment of that id, or undefined. */
  getDeployment(id: string): Promise<DeploymentRecord | undefined> {
    return this.#run(`getDeployment ${JSON.stringify(id)}`, () => this.#sql.getDeployment(id));
  }

  /** The deployments matching the filter, sorted by id. */
  listDeployments(filter: DeploymentFilter = {}): Promise<DeploymentRecord[]> {
    return this.#run("listDeployments", () => {
      checkFilter(filter);
      return this.#sql.listDeployments(filter);
    });
  }

  /** Deletes a deployment; true if it existed. */
  deleteDeployment(id: string): Promise<boolean> {
    return this.#run(`deleteDeployment ${JSON.stringify(id)}`, () => this.#sql.deleteDeployment(id));
  }

  /** The next epoch of a key, committed (and fsynced) before the promise resolves. */
  nextEpoch(key: string): Promise<bigint> {
    return this.#run(`nextEpoch ${JSON.stringify(key)}`, () => {
      checkKey("nextEpoch", "key", key);
      return this.#db
        .transaction(() => {
          const next = this.#sql.currentEpoch(key) + 1n;
          this.#sql.setEpoch(key, next);
          return next;
        })
        .immediate();
    });
  }

  /** Moves a key's sequence to at least `atLeast`, never back; committed (and fsynced) first. */
  advanceEpoch(key: string, atLeast: bigint): Promise<bigint> {
    return this.#run(`advanceEpoch ${JSON.stringify(key)}`, () => {
      checkKey("advanceEpoch", "key", key);
      checkEpoch("advanceEpoch", atLeast);
      return this.#db
        .transaction(() => {
          const current = this.#sql.currentEpoch(key);
          if (atLeast <= current) return current;
          this.#sql.setEpoch(key, atLeast);
          return atLeast;
        })
        .immediate();
    });
  }

  /** The last epoch given for a key; 0n if none. */
  currentEpoch(key: string): Promise<bigint> {
    return this.#run(`currentEpoch ${JSON.stringify(key)}`, () => this.#sql.currentEpoch(key));
  }

  /** Creates or replaces a catalogue entry. */
  putDataset(spec: DatasetSpec): Promise<void> {
    return this.#run(`putDataset ${JSON.stringify(spec.id)}`, () =>
      this.#sql.putDataset(checkDatasetSpec(spec)),
    );
  }

  /** The catalogue, sorted by id then version. */
  listDatasets(): Promise<DatasetSpec[]> {
    return this.#run("listDatasets", () => this.#sql.listDatasets());
  }

  /** Deletes one version of a dataset; true if it existed. */
  deleteDataset(id: string, version: string): Promise<boolean> {
    return this.#run(`deleteDataset ${JSON.stringify(id)}`, () => this.#sql.deleteDataset(id, version));
  }

  /** Marks a node as draining or not. */
  setDraining(nodeId: string, draining: boolean): Promise<void> {
    return this.#run(`setDraining ${JSON.stringify(nodeId)}`, () => {
      checkKey("setDraining", "nodeId", nodeId);
      this.#sql.setDraining(nodeId, draining);
    });
  }

  /** The draining nodes, sorted. */
  listDraining(): Promise<string[]> {
    return this.#run("listDraining", () => this.#sql.listDraining());
  }

  /** Creates a token; already_exists on a taken id, or a name taken by a token not revoked. */
  putToken(rec: ApiTokenRecord): Promise<void> {
    return this.#run(`putToken ${JSON.stringify(rec.id)}`, () => this.#auth.putToken(checkTokenRecord(rec)));
  }

  /** The token of that id, or undefined. */
  getToken(id: string): Promise<ApiTokenRecord | undefined> {
    return this.#run(`getToken ${JSON.stringify(id)}`, () => this.#auth.getToken(id));
  }

  /** Every token, by creation time then id. */
  listTokens(): Promise<ApiTokenRecord[]> {
    return this.#run("listTokens", () => this.#auth.listTokens());
  }

  /** Marks a token revoked; false if unknown or revoked already. */
  revokeToken(id: string, at: string): Promise<boolean> {
    return this.#run(`revokeToken ${JSON.stringify(id)}`, () => {
      if (Number.isNaN(Date.parse(at))) {
        throw new HiveError(
          ErrorCode.InvalidArgument,
          `revokeToken: "at" is ${JSON.stringify(at)}, expected an ISO 8601 time`,
        );
      }
      return this.#auth.revokeToken(id, at);
    });
  }

  /** Appends to the audit trail (committed before it resolves), then trims the entry's class to `keep`. */
  appendAudit(entry: AuditInput, keep: number): Promise<number> {
    return this.#run("appendAudit", () => this.#auth.appendAudit(checkAuditInput(entry), checkKeep(keep)));
  }

  /** A page of the audit trail, oldest first. */
  listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    return this.#run("listAudit", () => this.#auth.listAudit(checkAuditQuery(query)));
  }

  /** Closes the file (checkpointing the WAL into it) and releases its lock. */
  close(): Promise<void> {
    try {
      if (this.#db.open) this.#db.close();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(sqliteFailure(this.path, "close", err));
    }
  }
}

/** Opens (creating it and its directory if needed) and migrates the SQLite store at `path`. */
export function openSqliteStore(path: string, options?: SqliteStoreOptions): Promise<SqliteStore> {
  return SqliteStore.open(path, options);
}
