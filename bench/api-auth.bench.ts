/**
 * npm run bench:api-auth [-- --json] [--requests N] [--rounds N]
 *
 * What the HTTP API's security costs a request, side by side in one run:
 *
 * 1. checking a token's secret: SHA-256 and a constant-time compare (what api-tokens.ts does)
 *    against scrypt (N=2^14, r=8, p=1: a password hash), to show why a fast hash is chosen for
 *    256-bit random secrets (an unauthenticated caller could make us spend the slow one at will);
 * 2. requests through fastify's inject (the server's own cost, no sockets), on the real SQLite
 *    store (WAL, synchronous=FULL) and on the memory store:
 *      public     GET /healthz: no token looked at
 *      read       GET /v1/whoami: the token looked up in the store and its hash checked
 *      change     POST /v1/nodes/:id/drain: checked, then one audit entry committed (an fsync
 *                 on SQLite) before the answer
 *    and `sqlite unaudited`: the same store, whose audit writes are dropped, so `change` there
 *    is the change without its audit entry (what the audit trail adds is the difference).
 *    per-request time p50/p99 (process.hrtime), ratios against `public`.
 *
 * The variants take turns, round after round; samples of every round are pooled.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeControlPlane, fakeNode } from "../src/orchestrator/testing/fake-control-plane.ts";
import { MemoryStore } from "../src/orchestrator/store/memory-store.ts";
import { openSqliteStore } from "../src/orchestrator/store/sqlite-store.ts";
import type { ApiSecurityStore } from "../src/orchestrator/http/api-guard.ts";
import { testApi, type TestApi } from "../src/orchestrator/http/testing/test-api.ts";
import { percentile } from "./stats.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}
const json = process.argv.includes("--json");
const REQUESTS = arg("requests", 2000);
const ROUNDS = arg("rounds", 5);

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, p50Us: r(percentile(s, 0.5)), p99Us: r(percentile(s, 0.99)) };
}

function timeUs(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1000;
}

// 1. The hash.
const secret = randomBytes(32).toString("base64url");
const stored = createHash("sha256").update(secret).digest();
const salt = randomBytes(16);
const scryptStored = scryptSync(secret, salt, 32, { N: 2 ** 14, r: 8, p: 1 });
const sha: number[] = [];
const scrypt: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < 2000; i++)
    sha.push(timeUs(() => timingSafeEqual(stored, createHash("sha256").update(secret).digest())));
  for (let i = 0; i < 10; i++)
    scrypt.push(
      timeUs(() => timingSafeEqual(scryptStored, scryptSync(secret, salt, 32, { N: 2 ** 14, r: 8, p: 1 }))),
    );
}
const hash = { sha256: stats(sha), scrypt: stats(scrypt) };

// 2. Requests.
const dir = mkdtempSync(join(tmpdir(), "hive-bench-api-auth-"));
const sqlite = await openSqliteStore(join(dir, "bench.db"));
const unaudited = await openSqliteStore(join(dir, "unaudited.db"));
/** The second SQLite store with its audit writes dropped: the baseline of `change`. */
const dropAudit: ApiSecurityStore = {
  getToken: (id) => unaudited.getToken(id),
  putToken: (rec) => unaudited.putToken(rec),
  listTokens: () => unaudited.listTokens(),
  revokeToken: (id, at) => unaudited.revokeToken(id, at),
  appendAudit: () => Promise.resolve(0),
  listAudit: (q) => unaudited.listAudit(q),
};
const apis: Record<string, TestApi> = {
  sqlite: testApi({ control: new FakeControlPlane({ nodes: [fakeNode("live-1")] }), store: sqlite }),
  "sqlite unaudited": testApi({
    control: new FakeControlPlane({ nodes: [fakeNode("live-1")] }),
    store: dropAudit,
  }),
  memory: testApi({
    control: new FakeControlPlane({ nodes: [fakeNode("live-1")] }),
    store: new MemoryStore(),
  }),
};
const kinds = {
  public: (api: TestApi) => api.app.inject("/healthz"),
  read: (api: TestApi) => api.as("viewer")("/v1/whoami"),
  change: (api: TestApi) =>
    api.as("operator")({ method: "POST", url: "/v1/nodes/live-1/drain", payload: { draining: true } }),
} as const;
const samples: Record<string, number[]> = {};
for (const api of Object.values(apis)) await api.ready;
for (let round = 0; round < ROUNDS; round++) {
  for (const [storeName, api] of Object.entries(apis)) {
    for (const [kind, call] of Object.entries(kinds)) {
      const key = `${storeName} ${kind}`;
      const list = (samples[key] ??= []);
      const n = kind === "change" && storeName.startsWith("sqlite") ? Math.min(REQUESTS, 300) : REQUESTS;
      for (let i = 0; i < n; i++) {
        const t = process.hrtime.bigint();
        const res = await call(api);
        const us = Number(process.hrtime.bigint() - t) / 1000;
        if (res.statusCode !== 200) throw new Error(`${key}: ${res.statusCode} ${res.body}`);
        if (i >= n / 10) list.push(us); // the first 10% of a run warm up
      }
    }
  }
}
for (const api of Object.values(apis)) await api.close();
await sqlite.close();
await unaudited.close();
rmSync(dir, { recursive: true, force: true });

const requests = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)]));
if (json) {
  console.log(JSON.stringify({ hash, requests }));
} else {
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`token check (${ROUNDS} rounds)      p50 µs     p99 µs`);
  console.log(`  sha256 + compare           ${pad(String(hash.sha256.p50Us), 10)} ${hash.sha256.p99Us}`);
  console.log(`  scrypt N=2^14              ${pad(String(hash.scrypt.p50Us), 10)} ${hash.scrypt.p99Us}`);
  console.log(`  ratio scrypt / sha256      ${Math.round(hash.scrypt.p50Us / hash.sha256.p50Us)}×\n`);
  console.log("request (inject)             p50 µs     p99 µs     p50 ÷ public");
  for (const storeName of Object.keys(apis)) {
    const base = requests[`${storeName} public`]?.p50Us ?? Number.NaN;
    for (const kind of Object.keys(kinds)) {
      const s = requests[`${storeName} ${kind}`];
      if (!s) continue;
      console.log(
        `  ${pad(`${storeName} ${kind}`, 25)} ${pad(String(s.p50Us), 10)} ${pad(String(s.p99Us), 10)} ${(s.p50Us / base).toFixed(2)}`,
      );
    }
  }
}
