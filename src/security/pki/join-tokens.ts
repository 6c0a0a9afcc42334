/**
 * One-time join tokens (the shape of Kubernetes' bootstrap tokens): `<id>.<secret>`, where the id
 * names the token and the secret proves it. Only a SHA-256 of the secret is kept, one file per
 * token under `<ca dir>/join-tokens/` (0700; files 0600), with its expiry and, optionally, the one
 * node id it may join as. A runner holding a token (in a 0600 file) sends it with its certificate
 * signing request; the orchestrator spends it:
 *
 *   created ──(spent by a request that matches)──▶ used (the file renamed `<id>.used`)
 *      └──(its expiry passes)──▶ expired (refused; `hive ca join-token prune` removes it)
 *
 * Spending is a rename, which the kernel does once: two requests racing with one token cannot
 * both win. A wrong secret does not spend the token (it would let anyone who learns an id burn
 * it); it is refused and logged.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readdirSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { readSecretFileIfExists, writeSecretFile } from "../../core/secret-file.ts";

/** The folder of join tokens inside a CA directory. */
export const JOIN_TOKEN_DIR = "join-tokens";
/** How long a token lasts unless told otherwise: one hour. */
export const DEFAULT_JOIN_TOKEN_TTL_MS = 3_600_000;

const TOKEN = /^([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

/** A stored token: never the secret, only its hash. */
interface StoredToken {
  readonly id: string;
  readonly sha256: string;
  readonly createdAtUnixMs: number;
  readonly expiresAtUnixMs: number;
  /** The only node id it may join as; absent: any. */
  readonly node?: string;
}

/** A token as listed (no secret). */
export interface JoinTokenInfo {
  readonly id: string;
  readonly expiresAt: Date;
  readonly node: string | undefined;
  readonly state: "valid" | "used" | "expired";
}

/** The join tokens of the CA in `caDir`. */
export class JoinTokens {
  private readonly dir: string;

  constructor(
    caDir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = join(resolve(caDir), JOIN_TOKEN_DIR);
  }

  /** Makes a token; returns it (the only time the secret exists outside its holder's file). */
  create(o: { ttlMs?: number; node?: string } = {}): { token: string; id: string; expiresAt: Date } {
    const ttlMs = o.ttlMs ?? DEFAULT_JOIN_TOKEN_TTL_MS;
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `token lifetime ${ttlMs} ms: expected a whole number > 0`,
      );
    }
    const id = randomBytes(6).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const now = this.now();
    const stored: StoredToken = {
      id,
      sha256: hash(secret),
      createdAtUnixMs: now,
      expiresAtUnixMs: now + ttlMs,
      ...(o.node === undefined ? {} : { node: o.node }),
    };
    writeSecretFile(this.file(id), `${JSON.stringify(stored)}\n`, { exclusive: true });
    return { token: `${id}.${secret}`, id, expiresAt: new Date(stored.expiresAtUnixMs) };
  }

  /**
   * Spends `token` for a certificate of node `nodeId`; PermissionDenied, with the reason, for a
   * malformed, unknown, used, expired or wrong token, or one made for another node.
   */
  spend(token: string, nodeId: string): { id: string } {
    const m = TOKEN.exec(token.trim());
    if (!m) throw denied("the join token is malformed (expected <id>.<secret>)");
    const [, id = "", secret = ""] = m;
    const stored = this.read(id);
    if (stored === undefined) {
      const used = readSecretFileIfExists("join token", this.usedFile(id)) !== undefined;
      throw denied(used ? `join token ${id} was used already` : `join token ${id} is unknown`);
    }
    const a = Buffer.from(stored.sha256, "hex");
    const b = Buffer.from(hash(secret), "hex");
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw denied(`join token ${id}: wrong secret`);
    if (this.now() >= stored.expiresAtUnixMs) {
      throw denied(`join token ${id} expired at ${new Date(stored.expiresAtUnixMs).toISOString()}`);
    }
    if (stored.node !== undefined && stored.node !== nodeId) {
      throw denied(`join token ${id} is for node ${stored.node}, not ${nodeId}`);
    }
    try {
      renameSync(this.file(id), this.usedFile(id));
    } catch (err) {
      // Another request spent it between the read and the rename.
      throw denied(`join token ${id} was used already`, err);
    }
    return { id };
  }

  /** Every token, with its state. */
  list(): JoinTokenInfo[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: JoinTokenInfo[] = [];
    for (const name of names.sort()) {
      const used = name.endsWith(".used");
      const id = name.replace(/\.(json|used)$/, "");
      const stored = used ? this.parse(this.usedFile(id)) : this.read(id);
      if (!stored) continue;
      const state = used ? "used" : this.now() >= stored.expiresAtUnixMs ? "expired" : "valid";
      out.push({ id, expiresAt: new Date(stored.expiresAtUnixMs), node: stored.node, state });
    }
    return out;
  }

  /** Removes used and expired tokens; returns how many. */
  prune(): number {
    let n = 0;
    for (const t of this.list()) {
      if (t.state === "valid") continue;
      rmSync(t.state === "used" ? this.usedFile(t.id) : this.file(t.id), { force: true });
      n += 1;
    }
    return n;
  }

  private read(id: string): StoredToken | undefined {
    return this.parse(this.file(id));
  }

  private parse(file: string): StoredToken | undefined {
    const text = readSecretFileIfExists("join token", file);
    return text === undefined ? undefined : (JSON.parse(text) as StoredToken);
  }

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private usedFile(id: string): string {
    return join(this.dir, `${id}.used`);
  }
}

function hash(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function denied(reason: string, cause?: unknown): HiveError {
  return new HiveError(ErrorCode.PermissionDenied, reason, { cause });
}
