import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { API_ROLES, type AuditEntry } from "../store/auth-records.ts";
import { MemoryStore } from "../store/memory-store.ts";
import { openSqliteStore } from "../store/sqlite-store.ts";
import { routesOf } from "./api-guard.ts";
import { hashSecret, parseToken } from "./api-tokens.ts";
import type { AuditPage } from "./audit-route.ts";
import type { ErrorBody } from "./error-body.ts";
import { roleAllows } from "./roles.ts";
import { isChange, ROUTE_ROLES, ruleOf } from "./route-roles.ts";
import { addToken, injectAs, testApi } from "./testing/test-api.ts";
import type { CreatedToken, TokenView } from "./token-routes.ts";

const tmp = mkdtempSync(join(tmpdir(), "hive-api-guard-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A URL for a declared route: every `:param` becomes `x`. */
const urlOf = (route: string) => route.replace(/:[A-Za-z]+/g, "x");

async function auditOf(api: ReturnType<typeof testApi>): Promise<AuditEntry[]> {
  const res = await api.inject("/v1/audit?after=0&limit=1000");
  assert.equal(res.statusCode, 200, res.body);
  return res.json<AuditPage>().entries;
}

describe("roles", () => {
  test("operator and trader each include viewer, neither includes the other, admin includes all", () => {
    assert.deepEqual(
      API_ROLES.map((have) => API_ROLES.filter((need) => roleAllows(have, need))),
      [["viewer"], ["viewer", "operator"], ["viewer", "trader"], ["viewer", "operator", "trader", "admin"]],
    );
  });
});

describe("API guard: every route declares its role, and it is enforced", () => {
  const control = new FakeControlPlane();
  const api = testApi({ control });
  after(() => api.close());

  test("the routes fastify registered and the route table are the same set", async () => {
    await api.ready;
    const registered = routesOf(api.app)
      .filter((r) => r.method !== "HEAD")
      .map((r) => `${r.method} ${r.url}`)
      .sort();
    assert.deepEqual(registered, Object.keys(ROUTE_ROLES).sort());
    assert.ok(registered.length >= 20, `${registered.length} routes`);
  });

  test("a route without a declared role cannot be registered", () => {
    assert.throws(
      () => api.app.get("/v1/undeclared", () => ({})),
      /route GET \/v1\/undeclared declares no role: add it to src\/orchestrator\/http\/route-roles\.ts/,
    );
  });

  test("walking every route: no token 401, a lower role 403, enough role through; every change audited", async () => {
    await api.ready;
    const expected: { method: string; route: string; status: number; tokenId?: string }[] = [];
    for (const { method, url } of routesOf(api.app)) {
      if (method === "HEAD") continue;
      const rule = ruleOf(method, url);
      assert.ok(rule, `${method} ${url}`);
      const request = {
        method: method as "GET",
        url: urlOf(url),
        ...(method === "POST" ? { payload: {} } : {}),
      };
      if (rule.role === "public") {
        assert.equal((await injectAs(api.app, undefined)(request)).statusCode, 200, url);
        continue;
      }
      const calls = control.calls.length;
      const none = await injectAs(api.app, undefined)(request);
      assert.equal(none.statusCode, 401, `${method} ${url} without a token`);
      assert.equal(none.json<ErrorBody>().error.code, "unauthenticated");
      assert.match(String(none.headers["www-authenticate"]), /^Bearer realm="hive"/);
      assert.equal(control.calls.length, calls, `${method} ${url} without a token reached nothing`);
      if (isChange(method)) expected.push({ method, route: url, status: 401 });
      for (const role of API_ROLES) {
        const before = control.calls.length;
        const res = await api.as(role)(request);
        const id = parseToken(api.tokens[role])?.id;
        if (roleAllows(role, rule.role)) {
          assert.ok(![401, 403].includes(res.statusCode), `${method} ${url} as ${role}: ${res.statusCode}`);
        } else {
          assert.equal(control.calls.length, before, `${method} ${url} as ${role} reached nothing`);
          assert.equal(res.statusCode, 403, `${method} ${url} as ${role}`);
          assert.equal(res.json<ErrorBody>().error.code, "permission_denied");
          assert.match(
            res.json<ErrorBody>().error.message,
            new RegExp(`needs role ${rule.role}; token ${id}`),
          );
        }
        if (isChange(method))
          expected.push({ method, route: url, status: res.statusCode, ...(id ? { tokenId: id } : {}) });
      }
    }
    const audit = await auditOf(api);
    assert.deepEqual(
      audit.map((e) => ({
        method: e.method,
        route: e.route,
        status: e.status,
        ...(e.tokenId !== undefined ? { tokenId: e.tokenId } : {}),
      })),
      expected,
    );
    assert.ok(expected.length > 30, "changes were walked");
    for (const e of audit) {
      assert.equal(e.remote, "127.0.0.1");
      if (e.status >= 400) assert.ok(e.errorCode, `${e.method} ${e.route} ${e.status} has its error code`);
      if (e.tokenId !== undefined) assert.ok(e.role && e.tokenName, "who: the token's name and role");
    }
  });

  test("a malformed, an unknown, a revoked and an expired token are refused with 401", async () => {
    await api.ready;
    const call = (token: string) => injectAs(api.app, token)("/v1/nodes");
    const malformed = await api.app.inject({
      url: "/v1/nodes",
      headers: { authorization: "Basic dXNlcjpwdw==" },
    });
    assert.equal(malformed.statusCode, 401);
    assert.match(malformed.json<ErrorBody>().error.message, /not "Bearer hive_<id>_<secret>"/);
    const admin = parseToken(api.tokens.admin)!;
    const wrongSecret = `hive_${admin.id}_${"A".repeat(43)}`;
    assert.equal((await call(wrongSecret)).statusCode, 401);
    assert.match((await call(wrongSecret)).json<ErrorBody>().error.message, /the token is not known/);
    assert.equal((await call(`hive_0123456789abcdef_${"B".repeat(43)}`)).statusCode, 401);

    const created = await api.inject({
      method: "POST",
      url: "/v1/tokens",
      payload: { name: "ci", role: "viewer" },
    });
    assert.equal(created.statusCode, 201, created.body);
    const ci = created.json<CreatedToken>();
    assert.equal((await call(ci.token)).statusCode, 200);
    assert.equal((await api.inject({ method: "DELETE", url: "/v1/tokens/ci" })).statusCode, 200);
    const revoked = await call(ci.token);
    assert.equal(revoked.statusCode, 401);
    assert.match(revoked.json<ErrorBody>().error.message, new RegExp(`token ${ci.id} \\(ci\\) is revoked`));
    assert.match(String(revoked.headers["www-authenticate"]), /error="invalid_token"/);

    let now = new Date("2030-01-01T00:00:00Z");
    const clocked = testApi({ control: new FakeControlPlane(), now: () => now });
    const soon = await addToken(clocked.store, "admin", "soon", "2030-01-01T01:00:00.000Z");
    assert.equal((await injectAs(clocked.app, soon)("/v1/nodes")).statusCode, 200);
    now = new Date("2030-01-01T01:00:00Z");
    const expired = await injectAs(clocked.app, soon)("/v1/nodes");
    assert.equal(expired.statusCode, 401);
    assert.match(expired.json<ErrorBody>().error.message, /\(soon\) is expired/);
    const list = (await clocked.inject("/v1/tokens")).json<TokenView[]>();
    assert.equal(list.find((t) => t.name === "soon")?.state, "expired");
    await clocked.close();
  });

  test("tokens: create shows it once, list shows no secret, revoke by id or name, whoami", async () => {
    await api.ready;
    const created = (
      await api.inject({
        method: "POST",
        url: "/v1/tokens",
        payload: { name: "desk", role: "trader", expiresAt: "2099-01-01T00:00:00Z" },
      })
    ).json<CreatedToken>();
    assert.match(created.token, /^hive_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.expiresAt, "2099-01-01T00:00:00.000Z");
    const me = (await injectAs(api.app, created.token)("/v1/whoami")).json<TokenView>();
    assert.deepEqual([me.id, me.name, me.role, me.state], [created.id, "desk", "trader", "active"]);
    const listed = await api.inject("/v1/tokens");
    const secret = parseToken(created.token)!.secret;
    assert.ok(!listed.body.includes(secret), "no secret in the list");
    assert.ok(
      !listed.body.includes(hashSecret(secret)) && !listed.body.includes("secretHash"),
      "nor its hash",
    );
    const dup = await api.inject({
      method: "POST",
      url: "/v1/tokens",
      payload: { name: "desk", role: "viewer" },
    });
    assert.equal(dup.statusCode, 409);
    const bad = await api.inject({ method: "POST", url: "/v1/tokens", payload: { name: "x", role: "root" } });
    assert.equal(bad.statusCode, 400);
    const past = await api.inject({
      method: "POST",
      url: "/v1/tokens",
      payload: { name: "old", role: "viewer", expiresAt: "2001-01-01T00:00:00Z" },
    });
    assert.match(past.json<ErrorBody>().error.message, /expected a time in the future/);
    assert.equal((await api.inject({ method: "DELETE", url: `/v1/tokens/${created.id}` })).statusCode, 200);
    assert.equal((await api.inject({ method: "DELETE", url: `/v1/tokens/${created.id}` })).statusCode, 404);
    const audit = await auditOf(api);
    const create = audit.find(
      (e) => e.route === "/v1/tokens" && e.status === 201 && e.params.name === "desk",
    );
    assert.deepEqual(create?.params, { name: "desk", role: "trader", expiresAt: "2099-01-01T00:00:00Z" });
    assert.ok(!JSON.stringify(audit).includes(secret), "no secret in the audit trail");
  });
});

describe("API guard: the store", () => {
  test("tokens are stored hashed: the store's file holds the hash, never the secret", async () => {
    const file = join(tmp, "hashed.db");
    const store = await openSqliteStore(file);
    const api = testApi({ control: new FakeControlPlane(), store });
    const res = await api.inject({
      method: "POST",
      url: "/v1/tokens",
      payload: { name: "ci", role: "operator" },
    });
    const { token } = res.json<CreatedToken>();
    const { id, secret } = parseToken(token)!;
    await api.close();
    await store.close();
    const bytes = readFileSync(file).toString("latin1");
    assert.ok(!bytes.includes(secret), "the secret is nowhere in the file");
    const db = new Database(file, { readonly: true });
    const row = db.prepare("SELECT * FROM api_tokens WHERE id = ?").get(id) as Record<string, unknown>;
    db.close();
    assert.equal(row.secret_hash, hashSecret(secret));
    assert.ok(!Object.values(row).some((v) => typeof v === "string" && v.includes(secret)));
  });

  test("a change's audit entry names what it was about and never the layout's source (env secrets)", async () => {
    const control = new FakeControlPlane();
    const api = testApi({ control });
    const source = [
      "name: demo",
      "services:",
      "  - name: feeder",
      "    kind: feeder",
      "    pool: live",
      "    command: node",
      "    env: { API_KEY: sekrit-value }",
      "    resources: { cores: 1, memory: 64MiB }",
    ].join("\n");
    const res = await api.as("operator")({
      method: "POST",
      url: "/v1/layouts",
      payload: { source, file: "demo.yaml" },
    });
    assert.equal(res.statusCode, 200, res.body);
    const [entry] = await auditOf(api);
    assert.deepEqual(entry?.params, { file: "demo.yaml", layout: "demo", generation: "1" });
    assert.equal(entry?.tokenName, "test-operator");
    assert.equal(entry?.role, "operator");
    assert.ok(!JSON.stringify(entry).includes("sekrit"));
    await api.close();
  });

  test("the audit trail pages with after, filters with since, shows the tail, and stays bounded", async () => {
    let now = new Date("2030-01-01T00:00:00Z");
    const store = new MemoryStore();
    const api = testApi({
      control: new FakeControlPlane(),
      store,
      now: () => now,
      auditKeep: { known: 4, anonymous: 3 },
    });
    await api.ready;
    const drain = (as: ReturnType<typeof injectAs>) =>
      as({ method: "POST", url: "/v1/nodes/live-1/drain", payload: { draining: true } });
    for (let i = 0; i < 6; i++) {
      now = new Date(now.getTime() + 1000);
      await drain(api.as("operator"));
    }
    // A flood of calls without a token: kept to its own cap, never pushing the others out.
    for (let i = 0; i < 50; i++) await drain(injectAs(api.app, undefined));
    const all = (await api.inject("/v1/audit?after=0&limit=1000")).json<AuditPage>().entries;
    assert.equal(all.filter((e) => e.tokenId !== undefined).length, 4 - 0, "known: the newest 4");
    assert.equal(all.filter((e) => e.tokenId === undefined).length, 3, "anonymous: the newest 3");
    // The reads of the audit are not audited (GET); paging:
    const first = (await api.inject("/v1/audit?after=0&limit=2")).json<AuditPage>();
    const second = (await api.inject(`/v1/audit?after=${first.next}&limit=2`)).json<AuditPage>();
    assert.deepEqual(
      [...first.entries, ...second.entries].map((e) => e.seq),
      all.slice(0, 4).map((e) => e.seq),
    );
    const tail = (await api.inject("/v1/audit?limit=2")).json<AuditPage>();
    assert.deepEqual(
      tail.entries.map((e) => e.seq),
      all.slice(-2).map((e) => e.seq),
    );
    const since = (await api.inject("/v1/audit?since=2030-01-01T00:00:05Z")).json<AuditPage>();
    assert.ok(since.entries.every((e) => e.at >= "2030-01-01T00:00:05.000Z"));
    assert.ok(since.entries.some((e) => e.tokenId !== undefined));
    const bad = await api.inject("/v1/audit?limit=5000");
    assert.equal(bad.statusCode, 400);
    assert.equal((await api.as("viewer")("/v1/audit")).statusCode, 403, "admin only");
    await api.close();
  });
});
