/**
 * Refusals aggregated in the audit log (docs/gateway.md, "Refusals in the audit log"): of the
 * orders refused for one (deployment, account, code) in one wall-clock second, the first
 * `auditFullRefusalsPerSecond` get a full audit row each (kind `order`, outcome `rejected`); the
 * rest are counted, and once the second is over the count becomes ONE summary row (kind `order`,
 * outcome `rejected-summary`, detail `{count, fullRows, fromUnixMs, toUnixMs, firstClientOrderId,
 * lastClientOrderId}`). So a strategy flooding an unfenced account writes at most a few rows a
 * second, and the log still says exactly how many orders were refused.
 *
 * Complete in counts across a crash too: the counts of the open second are upserted, in the
 * batch's transaction (so before its refusals are answered), into the table
 * `audit_refusals_open`; writing a summary row deletes its count there in the same transaction,
 * and a gateway that starts with counts left there (it died within their second) writes them as
 * summary rows first.
 *
 * Bounded in bytes, whatever the rate of refusals: at most MAX_FULL_ROWS_PER_SECOND full rows a
 * second over all keys (past it, refusals are counted in their key's summary), and at most
 * MAX_KEYS_PER_SECOND keys a second; the refusals of any key beyond (frames naming a fresh account
 * each time) are counted under the key of their code alone (deployment and account null,
 * `overflow: true` in the detail), with no full row.
 */
import type Database from "better-sqlite3";
import type { AuditWrite } from "./gateway-statements.ts";

/** Keys (deployment, account, code) with full rows of their own in one second; the rest overflow. */
export const MAX_KEYS_PER_SECOND = 1024;

/** Full refusal rows in one second over all keys; the refusals past it are counted. */
export const MAX_FULL_ROWS_PER_SECOND = 1000;

/** The outcome of a summary row. */
export const SUMMARY_OUTCOME = "rejected-summary";

/** What a summary row's detail holds. */
export interface RefusalSummary {
  /** Refusals counted here (not written as full rows). */
  readonly count: number;
  /** Full rows written for the same key in the same second, before these. */
  readonly fullRows: number;
  /** The second counted: [fromUnixMs, toUnixMs). */
  readonly fromUnixMs: number;
  readonly toUnixMs: number;
  readonly firstClientOrderId: string | null;
  readonly lastClientOrderId: string | null;
  /** Counted under the key of the code alone: the second had too many keys. */
  readonly overflow: boolean;
}

const TABLE = `CREATE TABLE IF NOT EXISTS audit_refusals_open (
  key TEXT PRIMARY KEY, second INTEGER NOT NULL, deployment_id TEXT, account TEXT, code TEXT NOT NULL,
  count INTEGER NOT NULL, full_rows INTEGER NOT NULL, first_client_order_id TEXT,
  last_client_order_id TEXT, overflow INTEGER NOT NULL)`;

interface Entry {
  readonly key: string;
  readonly deploymentId: string | null;
  readonly account: string | null;
  readonly code: string;
  readonly overflow: boolean;
  full: number;
  count: number;
  first: string | null;
  last: string | null;
  /** Counted since the last upsert. */
  dirty: boolean;
}

type OpenRow = [
  key: string,
  second: number,
  deploymentId: string | null,
  account: string | null,
  code: string,
  count: number,
  fullRows: number,
  first: string | null,
  last: string | null,
  overflow: number,
];

/** See the file comment. */
export class RefusalAudit {
  readonly #fullPerSecond: number;
  readonly #write: (row: AuditWrite) => void;
  readonly #upsert: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #deleteAll: Database.Statement;
  readonly #readOpen: Database.Statement;
  /** The second (ms since the epoch / 1000, floored) the entries count. */
  #second = Number.NEGATIVE_INFINITY;
  #entries = new Map<string, Entry>();
  /** Keys of this second with full rows of their own (the overflow keys excluded). */
  #keys = 0;
  /** Full rows of this second, over all keys. */
  #fullRows = 0;
  /** Entries counted since the last `persist`. */
  #dirty: Entry[] = [];
  /** Refusals counted in summary rows since start (a metric). */
  summarized = 0;
  /** Summary rows written since start. */
  summaryRows = 0;

  constructor(db: Database.Database, fullPerSecond: number, write: (row: AuditWrite) => void) {
    this.#fullPerSecond = fullPerSecond;
    this.#write = write;
    db.exec(TABLE);
    this.#upsert = db.prepare(
      "INSERT INTO audit_refusals_open (key, second, deployment_id, account, code, count, full_rows, first_client_order_id, last_client_order_id, overflow) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) " +
        "ON CONFLICT (key) DO UPDATE SET second = excluded.second, count = excluded.count, full_rows = excluded.full_rows, first_client_order_id = excluded.first_client_order_id, last_client_order_id = excluded.last_client_order_id",
    );
    this.#delete = db.prepare("DELETE FROM audit_refusals_open WHERE key = ?");
    this.#deleteAll = db.prepare("DELETE FROM audit_refusals_open");
    this.#readOpen = db
      .prepare(
        "SELECT key, second, deployment_id, account, code, count, full_rows, first_client_order_id, last_client_order_id, overflow FROM audit_refusals_open ORDER BY second, key",
      )
      .raw();
  }

  /**
   * Counts one refusal decided at `nowMs` (wall clock); true if it gets a full row (the caller
   * writes it), false if it is counted for the second's summary row. Call inside a transaction.
   */
  admit(
    deploymentId: string | null,
    account: string | null,
    code: string,
    clientOrderId: string | null,
    nowMs: number,
  ): boolean {
    this.roll(nowMs);
    const key = `${deploymentId ?? ""}\u0001${account ?? ""}\u0001${code}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#keys >= MAX_KEYS_PER_SECOND) {
        entry = this.#entry(`\u0002${code}`, null, null, code, true);
      } else {
        this.#keys += 1;
        entry = this.#entry(key, deploymentId, account, code, false);
      }
    }
    if (!entry.overflow && entry.full < this.#fullPerSecond && this.#fullRows < MAX_FULL_ROWS_PER_SECOND) {
      entry.full += 1;
      this.#fullRows += 1;
      return true;
    }
    entry.count += 1;
    entry.first ??= clientOrderId;
    entry.last = clientOrderId;
    if (!entry.dirty) {
      entry.dirty = true;
      this.#dirty.push(entry);
    }
    this.summarized += 1;
    return false;
  }

  #entry(
    key: string,
    deploymentId: string | null,
    account: string | null,
    code: string,
    overflow: boolean,
  ): Entry {
    const existing = this.#entries.get(key);
    if (existing !== undefined) return existing;
    const entry: Entry = {
      key,
      deploymentId,
      account,
      code,
      overflow,
      full: 0,
      count: 0,
      first: null,
      last: null,
      dirty: false,
    };
    this.#entries.set(key, entry);
    return entry;
  }

  /**
   * Closes the counted second if `nowMs` is past it: writes its summary rows (and deletes their
   * open counts). Call inside a transaction, at the start of every batch.
   */
  roll(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    if (second === this.#second) return;
    if (this.#entries.size > 0) this.flush(nowMs);
    this.#second = second;
  }

  /** Writes the open counts changed since the last call (end of a batch, inside its transaction). */
  persist(): void {
    for (const e of this.#dirty) {
      e.dirty = false;
      this.#upsert.run(
        e.key,
        this.#second,
        e.deploymentId,
        e.account,
        e.code,
        e.count,
        e.full,
        e.first,
        e.last,
        e.overflow ? 1 : 0,
      );
    }
    this.#dirty = [];
  }

  /**
   * Writes the summary rows of the counted second now, whether or not it is over (at close), and
   * starts counting afresh. Call inside a transaction.
   */
  flush(nowMs: number): void {
    for (const e of this.#entries.values()) {
      if (e.count === 0) continue;
      this.#summary(e.deploymentId, e.account, e.code, this.#second, nowMs, {
        count: e.count,
        fullRows: e.full,
        first: e.first,
        last: e.last,
        overflow: e.overflow,
      });
      this.#delete.run(e.key);
    }
    this.#entries = new Map();
    this.#dirty = [];
    this.#keys = 0;
    this.#fullRows = 0;
  }

  /** Wall ms at which the counted second's summary rows are due, if there are counts to write. */
  dueAtMs(): number | undefined {
    for (const e of this.#entries.values()) if (e.count > 0) return (this.#second + 1) * 1000;
    return undefined;
  }

  /**
   * At start: writes the counts a previous run left open (it stopped within their second) as
   * summary rows. Call inside a transaction, before any refusal is counted. Returns how many.
   */
  recover(nowMs: number): number {
    const rows = this.#readOpen.all() as OpenRow[];
    for (const [, second, deploymentId, account, code, count, fullRows, first, last, overflow] of rows)
      this.#summary(deploymentId, account, code, second, nowMs, {
        count,
        fullRows,
        first,
        last,
        overflow: overflow === 1,
      });
    this.#deleteAll.run();
    return rows.length;
  }

  #summary(
    deploymentId: string | null,
    account: string | null,
    code: string,
    second: number,
    nowMs: number,
    c: { count: number; fullRows: number; first: string | null; last: string | null; overflow: boolean },
  ): void {
    const detail: RefusalSummary = {
      count: c.count,
      fullRows: c.fullRows,
      fromUnixMs: second * 1000,
      toUnixMs: (second + 1) * 1000,
      firstClientOrderId: c.first,
      lastClientOrderId: c.last,
      overflow: c.overflow,
    };
    this.#write({
      kind: "order",
      outcome: SUMMARY_OUTCOME,
      code,
      account,
      clientOrderId: null,
      deploymentId,
      epoch: null,
      detail: JSON.stringify(detail),
      receivedAtMs: second * 1000,
      decidedAtMs: nowMs,
    });
    this.summaryRows += 1;
  }
}
