/**
 * API tokens: `hive_<id>_<secret>`, where `id` is 16 hex digits (64 random bits, public: listed,
 * logged, audited) and `secret` is 32 random bytes in base64url (256 bits, shown once and never
 * stored). The store keeps SHA-256(secret) only.
 *
 * Why a plain SHA-256 and not a slow password hash (bcrypt, scrypt, argon2): those slow down a
 * guess at a low-entropy password. A 256-bit random secret cannot be guessed, slow hash or not,
 * so one fast hash gives the same protection to a stolen store file (nobody can turn a hash back
 * into a token) at a microsecond per request instead of tens of milliseconds, which an
 * unauthenticated caller could otherwise spend for us at will. The comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ApiRole, ApiTokenRecord } from "../store/auth-records.ts";

const TOKEN_PATTERN = /^hive_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A token as given by a caller, split into its parts. */
export interface TokenParts {
  readonly id: string;
  readonly secret: string;
}

/** SHA-256 of a token's secret, lowercase hex. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** A new token: the text to give its holder once, and the record to store (no secret in it). */
export function mintToken(
  name: string,
  role: ApiRole,
  now: Date,
  expiresAt?: string,
): { token: string; record: ApiTokenRecord } {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return {
    token: `hive_${id}_${secret}`,
    record: {
      id,
      name,
      role,
      secretHash: hashSecret(secret),
      createdAt: now.toISOString(),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    },
  };
}

/** The parts of a token, or undefined when the text is not one. */
export function parseToken(text: string): TokenParts | undefined {
  const match = TOKEN_PATTERN.exec(text.trim());
  return match ? { id: match[1] ?? "", secret: match[2] ?? "" } : undefined;
}

/** Whether `secret` is the one whose hash the record keeps (constant-time). */
export function secretMatches(record: ApiTokenRecord, secret: string): boolean {
  const want = Buffer.from(record.secretHash, "hex");
  const got = createHash("sha256").update(secret, "utf8").digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Why a stored token is not accepted now: revoked, expired, or undefined when it is usable. */
export function tokenUnusable(record: ApiTokenRecord, now: Date): "revoked" | "expired" | undefined {
  if (record.revokedAt !== undefined) return "revoked";
  if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now.getTime()) return "expired";
  return undefined;
}
