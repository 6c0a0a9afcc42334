/**
 * Fuzzing the HTTP API's inputs (issue 17, item 7): every route that takes a body, a query or a
 * path parameter is called as the admin (past the guard, so the input itself is what is read)
 * with arbitrary bodies (any bytes as JSON, any JSON, near-valid objects), query strings and path
 * parameters. Each answer is a 2xx, or a 4xx with the API's error body `{error: {code, message}}`
 * whose code is a HiveError code: never a 5xx, never a throw out of the server. Huge inputs (a
 * 10 MB body, a 10 MB header) are refused cleanly too.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import type { LightMyRequestResponse } from "fastify";
import { ErrorCode } from "../../core/hive-error.ts";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import type { ErrorBody } from "./error-body.ts";
import { testApi } from "./testing/test-api.ts";

const HIVE_CODES = new Set<string>(Object.values(ErrorCode));
const RUNS = { numRuns: 60 };
const LAYOUT = readFileSync("examples/layouts/live-trading.yaml", "utf8");

/** Asserts `res` is a success, or a 4xx with the API's error body. */
function assertAnswered(res: LightMyRequestResponse, what: string): void {
  assert.ok(res.statusCode < 500, `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  if (res.statusCode < 400) return;
  const body = res.json<ErrorBody>();
  assert.ok(HIVE_CODES.has(body.error.code), `${what}: code ${body.error.code}`);
  assert.equal(typeof body.error.message, "string");
}

const anyJson = fc.jsonValue({ maxDepth: 3 });
/** A path segment or query value: printable text, URL-encoded. */
const segment = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom("ACC-1", "live", "x".repeat(300), "..", "%00"),
);

/** Bodies: any JSON, any bytes sent as JSON, objects with the fields routes read and any values. */
const body = fc.oneof(
  anyJson.map((v) => JSON.stringify(v) ?? "null"),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString("latin1")),
  fc
    .record(
      {
        source: fc.oneof(
          fc.string(),
          fc.constant(LAYOUT),
          fc.nat({ max: LAYOUT.length }).map((n) => LAYOUT.slice(0, n)),
          anyJson,
        ),
        file: fc.oneof(segment, anyJson),
        draining: fc.oneof(fc.boolean(), anyJson),
        layout: fc.oneof(fc.constantFrom("live-trading"), anyJson),
        service: fc.oneof(fc.constantFrom("strategy"), anyJson),
        reason: fc.oneof(fc.string({ maxLength: 600 }), anyJson),
        force: fc.oneof(fc.boolean(), anyJson),
        name: fc.oneof(segment, anyJson),
        role: fc.oneof(fc.constantFrom("viewer", "operator", "trader", "admin", "root"), anyJson),
        expiresAt: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          anyJson,
        ),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
);

const ROUTES: readonly { method: "GET" | "POST" | "DELETE"; path: (p: string) => string; body: boolean }[] = [
  { method: "POST", path: () => "/v1/layouts", body: true },
  { method: "GET", path: (p) => `/v1/layouts/${p}`, body: false },
  { method: "DELETE", path: (p) => `/v1/layouts/${p}`, body: false },
  { method: "POST", path: (p) => `/v1/nodes/${p}/drain`, body: true },
  { method: "POST", path: () => "/v1/failover", body: true },
  { method: "POST", path: (p) => `/v1/accounts/${p}/kill`, body: true },
  { method: "DELETE", path: (p) => `/v1/accounts/${p}/kill`, body: false },
  { method: "POST", path: () => "/v1/tokens", body: true },
  { method: "DELETE", path: (p) => `/v1/tokens/${p}`, body: false },
  { method: "GET", path: () => "/v1/deployments", body: false },
  { method: "GET", path: () => "/v1/explain", body: false },
  { method: "GET", path: () => "/v1/accounts", body: false },
  { method: "GET", path: () => "/v1/audit", body: false },
  { method: "GET", path: (p) => `/v1/deployments/${p}/logs`, body: false },
];

/** A query string of arbitrary keys (some the routes read) and values. */
const query = fc
  .dictionary(
    fc.oneof(
      fc.constantFrom(
        "layout",
        "service",
        "node",
        "account",
        "after",
        "limit",
        "stream",
        "tail",
        "follow",
        "role",
      ),
      fc.string({ maxLength: 8 }),
    ),
    fc.oneof(segment, fc.integer().map(String), fc.constantFrom("-1", "1e99", "true", "")),
    { maxKeys: 4 },
  )
  .map((q) => new URLSearchParams(q).toString());

describe("fuzz: the HTTP API's bodies, queries and path parameters", () => {
  const api = testApi({ control: new FakeControlPlane() });
  after(() => api.close());

  test("every route answers 2xx or a 4xx with an error body, whatever it is sent", async () => {
    await api.ready;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        segment,
        query,
        body,
        fc.constantFrom(
          "application/json",
          "application/json; charset=utf-8",
          "text/plain",
          "application/x-www-form-urlencoded",
        ),
        async (route, param, q, payload, contentType) => {
          const url = `${route.path(encodeURIComponent(param))}${q === "" ? "" : `?${q}`}`;
          const res = await api.inject({
            method: route.method,
            url,
            ...(route.body ? { payload, headers: { "content-type": contentType } } : {}),
          });
          assertAnswered(res, `${route.method} ${url}`);
        },
      ),
      RUNS,
    );
  });

  test("found by fuzzing: a path parameter over 100 characters is a 414 with the error body (it was fastify's own)", async () => {
    await api.ready;
    const res = await api.inject({ method: "DELETE", url: `/v1/accounts/${"x".repeat(101)}/kill` });
    assert.equal(res.statusCode, 414);
    assert.equal(res.json<ErrorBody>().error.code, ErrorCode.InvalidArgument);
    const bad = await api.inject({ method: "GET", url: "/v1/layouts/%E0%A4%A" });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json<ErrorBody>().error.code, ErrorCode.InvalidArgument);
  });

  test("a 10 MB body is refused 413 with an error body, before any route reads it", async () => {
    await api.ready;
    const res = await api.inject({
      method: "POST",
      url: "/v1/layouts",
      payload: JSON.stringify({ source: "x".repeat(10 * 1024 * 1024), file: "big.yaml" }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(res.statusCode, 413);
    assertAnswered(res, "10 MB body");
  });
});
