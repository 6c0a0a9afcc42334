/**
 * The SQL of the SQLite store's API tokens and audit trail (auth-records.ts), prepared once per
 * connection. Records arrive here already checked; absent optional fields are stored as NULL and
 * left out when read back, so what is read compares equal to what was put.
 */
import type BetterSqlite3 from "better-sqlite3";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import {
  isAnonymous,
  type ApiRole,
  type ApiTokenRecord,
  type AuditEntry,
  type AuditInput,
  type AuditQuery,
} from "./auth-records.ts";

interface TokenRow {
  id: string;
  name: string;
  role: ApiRole;
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

interface AuditRow {
  seq: number;
  at: string;
  anonymous: number;
  token_id: string | null;
  token_name: string | null;
  role: ApiRole | null;
  remote: string;
  method: string;
  route: string;
  params: string;
  status: number;
  error_code: string | null;
}

function toToken(row: TokenRow): ApiTokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    secretHash: row.secret_hash,
    createdAt: row.created_at,
    ...(row.expires_at !== null ? { expiresAt: row.expires_at } : {}),
    ...(row.revoked_at !== null ? { revokedAt: row.revoked_at } : {}),
  };
}

function toAudit(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    at: row.at,
    ...(row.token_id !== null ? { tokenId: row.token_id } : {}),
    ...(row.token_name !== null ? { tokenName: row.token_name } : {}),
    ...(row.role !== null ? { role: row.role } : {}),
    remote: row.remote,
    method: row.method,
    route: row.route,
    params: JSON.parse(row.params) as Record<string, string>,
    status: row.status,
    ...(row.error_code !== null ? { errorCode: row.error_code } : {}),
  };
}

/** The prepared statements of tokens and the audit trail on one connection. */
export class SqliteAuthStatements {
  readonly #db: BetterSqlite3.Database;
  readonly #putToken;
  readonly #getToken;
  readonly #liveTokenNamed;
  readonly #listTokens;
  readonly #revokeToken;
  readonly #appendAudit;
  readonly #trimAudit;
  readonly #tailAudit;
  readonly #pageAudit;

  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
    this.#putToken = db.prepare<[TokenRow]>(
      `INSERT INTO api_tokens (id, name, role, secret_hash, created_at, expires_at, revoked_at)
       VALUES (@id, @name, @role, @secret_hash, @created_at, @expires_at, @revoked_at)`,
    );
    this.#getToken = db.prepare<[string], TokenRow>("SELECT * FROM api_tokens WHERE id = ?");
    this.#liveTokenNamed = db.prepare<[string], { id: string }>(
      "SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL",
    );
    this.#listTokens = db.prepare<[], TokenRow>("SELECT * FROM api_tokens ORDER BY created_at, id");
    this.#revokeToken = db.prepare<[string, string]>(
      "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
    );
    this.#appendAudit = db.prepare<[Omit<AuditRow, "seq">]>(
      `INSERT INTO audit (at, anonymous, token_id, token_name, role, remote, method, route, params, status, error_code)
       VALUES (@at, @anonymous, @token_id, @token_name, @role, @remote, @method, @route, @params, @status, @error_code)`,
    );
    // The entries of a class past the newest `keep` (the index on (anonymous, seq) finds the bound).
    this.#trimAudit = db.prepare<[{ anonymous: number; keep: number }]>(
      `DELETE FROM audit WHERE anonymous = @anonymous AND seq <= (
         SELECT seq FROM audit WHERE anonymous = @anonymous ORDER BY seq DESC LIMIT 1 OFFSET @keep)`,
    );
    this.#tailAudit = db.prepare<[number], AuditRow>(
      "SELECT * FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT ?) ORDER BY seq",
    );
    this.#pageAudit = db.prepare<[{ after: number; since: string; limit: number }], AuditRow>(
      "SELECT * FROM audit WHERE seq > @after AND at >= @since ORDER BY seq LIMIT @limit",
    );
  }

  /** Creates a token: already_exists on a taken id or a name a live token holds. */
  putToken(rec: ApiTokenRecord): void {
    if (this.#getToken.get(rec.id) !== undefined) {
      throw new HiveError(ErrorCode.AlreadyExists, `a token with id ${JSON.stringify(rec.id)} exists`);
    }
    const clash = rec.revokedAt === undefined ? this.#liveTokenNamed.get(rec.name) : undefined;
    if (clash !== undefined) {
      throw new HiveError(
        ErrorCode.AlreadyExists,
        `a token named ${JSON.stringify(rec.name)} exists (id ${clash.id}); revoke it first, or choose another name`,
      );
    }
    this.#putToken.run({
      id: rec.id,
      name: rec.name,
      role: rec.role,
      secret_hash: rec.secretHash,
      created_at: rec.createdAt,
      expires_at: rec.expiresAt ?? null,
      revoked_at: rec.revokedAt ?? null,
    });
  }

  /** The token of that id, or undefined. */
  getToken(id: string): ApiTokenRecord | undefined {
    const row = this.#getToken.get(id);
    return row && toToken(row);
  }

  /** Every token, by creation time then id. */
  listTokens(): ApiTokenRecord[] {
    return this.#listTokens.all().map(toToken);
  }

  /** Marks a token revoked; false if unknown or revoked already. */
  revokeToken(id: string, at: string): boolean {
    return this.#revokeToken.run(at, id).changes > 0;
  }

  /** Appends an entry and trims its class to `keep`, in one transaction; returns its seq. */
  appendAudit(entry: AuditInput, keep: number): number {
    const anonymous = isAnonymous(entry) ? 1 : 0;
    return this.#db.transaction(() => {
      const seq = this.#appendAudit.run({
        at: entry.at,
        anonymous,
        token_id: entry.tokenId ?? null,
        token_name: entry.tokenName ?? null,
        role: entry.role ?? null,
        remote: entry.remote,
        method: entry.method,
        route: entry.route,
        params: JSON.stringify(entry.params),
        status: entry.status,
        error_code: entry.errorCode ?? null,
      }).lastInsertRowid;
      this.#trimAudit.run({ anonymous, keep });
      return Number(seq);
    })();
  }

  /** A page of the trail, oldest first: the tail, or what follows `after` and `since`. */
  listAudit(query: AuditQuery): AuditEntry[] {
    const rows =
      query.after === undefined && query.since === undefined
        ? this.#tailAudit.all(query.limit)
        : this.#pageAudit.all({ after: query.after ?? 0, since: query.since ?? "", limit: query.limit });
    return rows.map(toAudit);
  }
}
