import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { silentLogger } from "../../core/logger.ts";
import { MemoryStore } from "../store/memory-store.ts";
import { defaultAdminTokenFile, ensureAdminToken } from "./admin-token.ts";
import { parseToken, secretMatches } from "./api-tokens.ts";

const tmp = mkdtempSync(join(tmpdir(), "hive-admin-token-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("the default file: beside the SQLite store; apart for a memory store", () => {
  assert.equal(defaultAdminTokenFile("sqlite:.hive/orchestrator.db"), ".hive/admin.token");
  assert.equal(defaultAdminTokenFile("sqlite:///var/lib/hive/hive.db"), "/var/lib/hive/admin.token");
  assert.equal(defaultAdminTokenFile("memory:"), ".hive/memory-admin.token");
});

test("an empty store gets one admin token, in a 0600 file; a store with one is left alone", async () => {
  const store = new MemoryStore();
  const file = join(tmp, "state", "admin.token");
  const id = await ensureAdminToken(store, file, silentLogger());
  assert.ok(id);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(tmp, "state")).mode & 0o777, 0o700);
  const parts = parseToken(readFileSync(file, "utf8"));
  assert.equal(parts?.id, id);
  const [record] = await store.listTokens();
  assert.equal(record?.role, "admin");
  assert.equal(record?.name, "admin");
  assert.ok(record && parts && secretMatches(record, parts.secret));
  assert.ok(!JSON.stringify(record).includes(parts.secret), "only the hash is stored");

  assert.equal(await ensureAdminToken(store, file, silentLogger()), undefined, "one is there: nothing made");
  assert.equal(parseToken(readFileSync(file, "utf8"))?.id, id, "the file is left as it was");
});

test("when every admin token is revoked or expired, the next start makes a new one", async () => {
  const store = new MemoryStore();
  const file = join(tmp, "again.token");
  const first = await ensureAdminToken(store, file, silentLogger(), new Date("2030-01-01T00:00:00Z"));
  await store.revokeToken(first!, "2030-01-02T00:00:00.000Z");
  const second = await ensureAdminToken(store, file, silentLogger(), new Date("2030-01-03T00:00:00Z"));
  assert.ok(second && second !== first);
  assert.equal(parseToken(readFileSync(file, "utf8"))?.id, second);
  assert.deepEqual(
    (await store.listTokens()).map((t) => [t.name, t.revokedAt !== undefined]),
    [
      ["admin", true],
      ["admin", false],
    ],
  );
});
