/**
 * The audit log: append-only rows in the `audit` table of the gateway's database, each written in
 * the same transaction as the state change it justifies, numbered by `seq`. This file reads the
 * table (`queryAudit`) and formats records for `hive gateway audit`; rows past
 * `auditArchiveAfterDays` move to files (audit-archive.ts, whose `readAudit(stateDir)` reads both).
 *
 * Kinds and outcomes:
 *   order      accepted | rejected (code = reject code) | duplicate
 *              | rejected-summary (code = reject code; detail {count, fullRows, fromUnixMs, ...}:
 *                that many more refusals of this deployment, account and code in that second,
 *                beyond the `rejected` rows written in full; refusal-audit.ts)
 *   broker     rejected | pending (no answer in time) | late-answer | not-received | reconciled
 *   fill       filled            cancel   cancelled
 *   fence      fenced | unchanged | refused       kill  killed     unkill  unkilled
 *   authorize  authorized        revoke   revoked
 */
import type Database from "better-sqlite3";
import { SUMMARY_OUTCOME, type RefusalSummary } from "./refusal-audit.ts";

/** One row of the audit log. */
export interface AuditRecord {
  readonly seq: number;
  readonly kind: string;
  readonly outcome: string;
  /** The reject code, or a detail code of the outcome; null when there is none. */
  readonly code: string | null;
  readonly account: string | null;
  readonly clientOrderId: string | null;
  readonly deploymentId: string | null;
  readonly epoch: string | null;
  /** The order's envelope as received, or a JSON object describing the change. */
  readonly detail: string | null;
  /** When the request was received (ms since the Unix epoch), for orders and control ops. */
  readonly receivedAtMs: number | null;
  /** When the gateway decided. */
  readonly decidedAtMs: number;
}

/** Which rows to read. */
export interface AuditQuery {
  /** Only rows after this sequence number (default 0: from the start). */
  readonly afterSeq?: number;
  /** At most this many rows (default: all). */
  readonly limit?: number;
  readonly account?: string;
}

interface AuditRow {
  seq: number;
  kind: string;
  outcome: string;
  code: string | null;
  account: string | null;
  client_order_id: string | null;
  deployment_id: string | null;
  epoch: string | null;
  detail: string | null;
  received_at_ms: number | null;
  decided_at_ms: number;
}

/** Reads audit rows from an open database, oldest first. */
export function queryAudit(db: Database.Database, query: AuditQuery = {}): AuditRecord[] {
  const where = query.account === undefined ? "seq > ?" : "seq > ? AND account = ?";
  const params: (string | number)[] = [query.afterSeq ?? 0];
  if (query.account !== undefined) params.push(query.account);
  params.push(query.limit ?? -1);
  const rows = db
    .prepare(`SELECT * FROM audit WHERE ${where} ORDER BY seq LIMIT ?`)
    .all(...params) as AuditRow[];
  return rows.map((r) => ({
    seq: r.seq,
    kind: r.kind,
    outcome: r.outcome,
    code: r.code,
    account: r.account,
    clientOrderId: r.client_order_id,
    deploymentId: r.deployment_id,
    epoch: r.epoch,
    detail: r.detail,
    receivedAtMs: r.received_at_ms,
    decidedAtMs: r.decided_at_ms,
  }));
}

/** The summary of a `rejected-summary` row; undefined for any other row (or a detail unreadable). */
export function refusalSummary(r: AuditRecord): RefusalSummary | undefined {
  if (r.kind !== "order" || r.outcome !== SUMMARY_OUTCOME || r.detail === null) return undefined;
  try {
    const s = JSON.parse(r.detail) as Partial<RefusalSummary>;
    return typeof s.count === "number" ? (s as RefusalSummary) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How many refused orders a row stands for: 1 for a `rejected` order row, the count of a
 * `rejected-summary` row, 0 for any other row. Summing it over the log counts every refusal.
 */
export function refusalsIn(r: AuditRecord): number {
  if (r.kind !== "order") return 0;
  if (r.outcome === "rejected") return 1;
  return refusalSummary(r)?.count ?? 0;
}

/**
 * One line per record, for people: `seq time kind outcome code account id deployment@epoch`; a
 * summary row reads `... rejected-summary CODE ACCOUNT ×COUNT in [from, to) DEPLOYMENT`.
 */
export function formatAuditLine(r: AuditRecord): string {
  const time = new Date(r.decidedAtMs).toISOString();
  const summary = refusalSummary(r);
  const epoch = summary === undefined ? `@${r.epoch ?? "?"}` : "";
  const who = r.deploymentId === null ? "" : ` ${r.deploymentId}${epoch}`;
  const order =
    summary !== undefined
      ? ` ×${summary.count} in [${new Date(summary.fromUnixMs).toISOString()}, +1 s)${summary.overflow ? " (overflow: every account)" : ""}`
      : r.clientOrderId === null
        ? ""
        : ` ${r.clientOrderId}`;
  const code = r.code === null ? "" : ` ${r.code}`;
  return `${r.seq} ${time} ${r.kind} ${r.outcome}${code} ${r.account ?? "-"}${order}${who}`;
}
