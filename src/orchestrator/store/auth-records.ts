/**
 * The records of the HTTP API's security kept in the store: API tokens (hashed, never in clear)
 * and the audit trail of every call that changes anything. Plain data like the other records
 * (ISO strings for times), with the checks every store makes before it writes, so the memory
 * store refuses what SQLite refuses.
 *
 * The audit trail is bounded: each append says how many entries of its class to keep, and the
 * oldest beyond that go. Two classes, so that callers nobody knows (401s: no token, or a token
 * that is unknown, revoked or expired) cannot push the entries of known tokens out of the trail.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/** The roles of API tokens, weakest first (roles.ts says what each may do). */
export const API_ROLES = ["viewer", "operator", "trader", "admin"] as const;

/** One of {@link API_ROLES}. */
export type ApiRole = (typeof API_ROLES)[number];

/** An API token as stored: its secret only as a SHA-256 hash (api-tokens.ts says why that is enough). */
export interface ApiTokenRecord {
  /** The public part of the token (`hive_<id>_<secret>`): shown by `hive token list`, used to revoke. */
  readonly id: string;
  /** A person's or a program's name for it; unique among the tokens not revoked. */
  readonly name: string;
  readonly role: ApiRole;
  /** SHA-256 of the secret part, lowercase hex (64 characters). */
  readonly secretHash: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** When it stops being accepted, ISO 8601; absent: never. */
  readonly expiresAt?: string;
  /** When it was revoked, ISO 8601; absent: not revoked. */
  readonly revokedAt?: string;
}

/** One call written to the audit trail, as given to `appendAudit`. */
export interface AuditInput {
  /** When it was answered, ISO 8601. */
  readonly at: string;
  /** The token that made it; absent when none was given or it was unknown, revoked or expired. */
  readonly tokenId?: string;
  readonly tokenName?: string;
  readonly role?: ApiRole;
  /** The caller's address as the socket saw it. */
  readonly remote: string;
  readonly method: string;
  /** The route as declared (`/v1/layouts/:name`), not the URL asked. */
  readonly route: string;
  /** What it was about: path parameters and the body fields the route table names (never a secret). */
  readonly params: Readonly<Record<string, string>>;
  /** The HTTP status answered. */
  readonly status: number;
  /** The error's code, when it failed. */
  readonly errorCode?: string;
}

/** An audit entry as read back: with its sequence number (1, 2, ...: never reused, never reordered). */
export interface AuditEntry extends AuditInput {
  readonly seq: number;
}

/**
 * Which entries `listAudit` returns, oldest first, at most `limit`: those after the sequence
 * number `after` and at or after the time `since`; with neither, the last `limit` entries.
 */
export interface AuditQuery {
  readonly after?: number;
  readonly since?: string;
  readonly limit: number;
}

/** The largest audit page a store returns at once. */
export const MAX_AUDIT_PAGE = 1000;

/** The longest string an audit field keeps; longer ones are cut (with "…"), so no entry is large. */
export const MAX_AUDIT_FIELD = 200;

function invalid(where: string, field: string, value: unknown, expected: string): HiveError {
  return new HiveError(
    ErrorCode.InvalidArgument,
    `${where}: field "${field}" is ${JSON.stringify(value) ?? String(value)}, expected ${expected}`,
  );
}

function text(where: string, field: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0)
    throw invalid(where, field, value, "a non-empty string");
  return value;
}

function time(where: string, field: string, value: unknown): string {
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) {
    throw invalid(where, field, value, "an ISO 8601 time such as 2025-01-31T12:00:00.000Z");
  }
  return value;
}

function role(where: string, value: unknown): ApiRole {
  if (!API_ROLES.includes(value as ApiRole))
    throw invalid(where, "role", value, `one of ${API_ROLES.join(", ")}`);
  return value as ApiRole;
}

/** A string cut to {@link MAX_AUDIT_FIELD} characters. */
export function cutAuditField(value: string): string {
  return value.length <= MAX_AUDIT_FIELD ? value : `${value.slice(0, MAX_AUDIT_FIELD - 1)}…`;
}

/** Checks a token record and returns the canonical copy to write. */
export function checkTokenRecord(rec: ApiTokenRecord): ApiTokenRecord {
  const where = `token ${JSON.stringify(rec.id)}`;
  if (typeof rec.secretHash !== "string" || !/^[0-9a-f]{64}$/.test(rec.secretHash)) {
    throw invalid(where, "secretHash", "(hidden)", "a SHA-256 hash in lowercase hex");
  }
  return {
    id: text(where, "id", rec.id),
    name: text(where, "name", rec.name),
    role: role(where, rec.role),
    secretHash: rec.secretHash,
    createdAt: time(where, "createdAt", rec.createdAt),
    ...(rec.expiresAt !== undefined ? { expiresAt: time(where, "expiresAt", rec.expiresAt) } : {}),
    ...(rec.revokedAt !== undefined ? { revokedAt: time(where, "revokedAt", rec.revokedAt) } : {}),
  };
}

/** Checks an audit entry and returns the canonical copy to write, every string cut to size. */
export function checkAuditInput(input: AuditInput): AuditInput {
  const where = "audit entry";
  if (!Number.isInteger(input.status) || input.status < 100 || input.status > 599) {
    throw invalid(where, "status", input.status, "an HTTP status");
  }
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.params).slice(0, 8)) {
    params[cutAuditField(key)] = cutAuditField(String(value));
  }
  const optional = (value: string | undefined) => (value === undefined ? undefined : cutAuditField(value));
  const tokenId = optional(input.tokenId);
  const tokenName = optional(input.tokenName);
  const errorCode = optional(input.errorCode);
  return {
    // Canonical (toISOString), so that `since` compares as text the same in every store.
    at: new Date(time(where, "at", input.at)).toISOString(),
    ...(tokenId !== undefined ? { tokenId } : {}),
    ...(tokenName !== undefined ? { tokenName } : {}),
    ...(input.role !== undefined ? { role: role(where, input.role) } : {}),
    remote: cutAuditField(String(input.remote)),
    method: cutAuditField(text(where, "method", input.method)),
    route: cutAuditField(text(where, "route", input.route)),
    params,
    status: input.status,
    ...(errorCode !== undefined ? { errorCode } : {}),
  };
}

/** Checks an audit query: a limit of 1 to {@link MAX_AUDIT_PAGE}, `after` ≥ 0, `since` a time. */
export function checkAuditQuery(query: AuditQuery): AuditQuery {
  const where = "audit query";
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_AUDIT_PAGE) {
    throw invalid(where, "limit", query.limit, `an integer from 1 to ${MAX_AUDIT_PAGE}`);
  }
  if (query.after !== undefined && (!Number.isSafeInteger(query.after) || query.after < 0)) {
    throw invalid(where, "after", query.after, "a sequence number ≥ 0");
  }
  return {
    limit: query.limit,
    ...(query.after !== undefined ? { after: query.after } : {}),
    ...(query.since !== undefined
      ? { since: new Date(time(where, "since", query.since)).toISOString() }
      : {}),
  };
}

/** Checks how many entries of a class to keep: at least 1. */
export function checkKeep(keep: number): number {
  if (!Number.isSafeInteger(keep) || keep < 1) throw invalid("appendAudit", "keep", keep, "an integer ≥ 1");
  return keep;
}

/** Whether an entry is of the anonymous class (no known token made it). */
export function isAnonymous(entry: AuditInput): boolean {
  return entry.tokenId === undefined;
}
