/**
 * The first admin token. An orchestrator whose store holds no usable admin token (a new store,
 * or every admin token revoked or expired) makes one when it starts and writes it to a 0600
 * file (`--admin-token-file`, default `admin.token` beside the SQLite store), and logs where:
 * the token itself is never on a command line or in a log. Whoever can read that file (the
 * orchestrator's user, root) holds the cluster's API; the admin then makes the other tokens
 * (`hive token create`) and may revoke this one; the next start makes a new one only if no admin
 * token is left usable.
 */
import { dirname, join } from "node:path";
import type { Logger } from "../../core/logger.ts";
import { writeSecretFile } from "../../core/secret-file.ts";
import type { ApiSecurityStore } from "./api-guard.ts";
import { mintToken, tokenUnusable } from "./api-tokens.ts";

/**
 * `admin.token` beside the SQLite store's file; `.hive/memory-admin.token` for a memory store
 * (whose tokens die with it: it must not overwrite the file of the SQLite store's admin).
 */
export function defaultAdminTokenFile(storeUrl: string): string {
  if (storeUrl.startsWith("sqlite:")) {
    const path = storeUrl.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    return join(dirname(path), "admin.token");
  }
  return join(".hive", "memory-admin.token");
}

/**
 * Makes an admin token when the store has no usable one, and writes it to `file`; returns its id,
 * or undefined when one was there already (the file is then left as it is).
 */
export async function ensureAdminToken(
  store: ApiSecurityStore,
  file: string,
  log: Logger,
  now: Date = new Date(),
): Promise<string | undefined> {
  const tokens = await store.listTokens();
  if (tokens.some((t) => t.role === "admin" && tokenUnusable(t, now) === undefined)) return undefined;
  const nameTaken = tokens.some((t) => t.name === "admin" && t.revokedAt === undefined);
  const minted = mintToken("admin", "admin", now);
  const record = nameTaken ? { ...minted.record, name: `admin-${minted.record.id}` } : minted.record;
  // The file first: a token in the store that nobody was given is no use, one given but not
  // stored only fails to work.
  writeSecretFile(file, `${minted.token}\n`);
  await store.putToken(record);
  log.warn(
    { tokenId: record.id, name: record.name, file },
    "no usable admin API token in the store: made one; it is in this file (mode 0600), for hive token create",
  );
  return record.id;
}
