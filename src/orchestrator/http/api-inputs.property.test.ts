/**
 * Property tests with arbitrary input for the API's small parsers (issue 17): the bearer-token
 * header (`Authorization`, parsed by api-guard.ts / api-tokens.ts) and the audit query
 * (`GET /v1/audit?since=&after=&limit=`, on the memory and the SQLite store). Each answer is a
 * refusal with a code (401 for a header that is not a known token, 400 for a bad query), never a
 * 5xx; sizes are bounded: a 10 MB header is refused by the HTTP server before it is parsed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { ErrorCode } from "../../core/hive-error.ts";
import { openSqliteStore } from "../store/sqlite-store.ts";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { parseToken } from "./api-tokens.ts";
import type { AuditPage } from "./audit-route.ts";
import type { ErrorBody } from "./error-body.ts";
import { injectAs, testApi } from "./testing/test-api.ts";

const tmp = mkdtempSync(join(tmpdir(), "hive-api-inputs-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const hex = fc.stringMatching(/^[0-9a-f]{16}$/);
const secret = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);
/** Header values: any text, near-valid tokens, and a real token cut, padded or with a changed character. */
const headerValue = (real: string) =>
  fc.oneof(
    fc.string({ maxLength: 120 }),
    fc.tuple(hex, secret).map(([id, s]) => `Bearer hive_${id}_${s}`),
    fc
      .tuple(
        fc.constantFrom("Bearer ", "bearer ", "Bearer  ", "Basic ", "Bearer\t", ""),
        fc.string({ maxLength: 80 }),
      )
      .map(([scheme, rest]) => scheme + rest),
    fc.nat({ max: real.length }).map((n) => `Bearer ${real.slice(0, n)}`),
    fc
      .tuple(fc.nat({ max: real.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }))
      .map(([i, c]) => `Bearer ${real.slice(0, i)}${c}${real.slice(i + 1)}`),
    fc.string({ maxLength: 20 }).map((pad) => `Bearer ${real}${pad}`),
  );

describe("property: the bearer-token header", () => {
  test("parseToken: never throws; a result only for hive_<16 hex>_<43 base64url>, and then exactly its parts", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 100 }),
          fc.tuple(hex, secret).map(([i, s]) => `hive_${i}_${s}`),
        ),
        (text) => {
          const parts = parseToken(text);
          if (parts === undefined) return;
          assert.match(parts.id, /^[0-9a-f]{16}$/);
          assert.match(parts.secret, /^[A-Za-z0-9_-]{43}$/);
          assert.equal(`hive_${parts.id}_${parts.secret}`, text.trim());
        },
      ),
      { numRuns: 500 },
    );
  });

  test("any Authorization header: 401 with the error body unless it is exactly a known token", async () => {
    const api = testApi({ control: new FakeControlPlane() });
    try {
      await api.ready;
      const real = api.tokens.viewer;
      await fc.assert(
        // Only what an HTTP header can carry (a client cannot send the rest).
        fc.asyncProperty(
          headerValue(real).filter((v) => /^[\t\x20-\x7e]*$/.test(v)),
          async (value) => {
            const res = await api.app.inject({ url: "/v1/nodes", headers: { authorization: value } });
            const exact = /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1] === real;
            if (exact) {
              assert.equal(res.statusCode, 200, value);
              return;
            }
            assert.equal(res.statusCode, 401, `${JSON.stringify(value)}: ${res.statusCode} ${res.body}`);
            assert.equal(res.json<ErrorBody>().error.code, ErrorCode.Unauthenticated);
          },
        ),
        { numRuns: 200 },
      );
    } finally {
      await api.close();
    }
  });

  test("a 10 MB Authorization header is refused by the HTTP server (431) before it is parsed", async () => {
    const api = testApi({ control: new FakeControlPlane() });
    await api.ready;
    await api.app.listen({ host: "127.0.0.1", port: 0 });
    try {
      const address = api.app.server.address();
      assert.ok(typeof address === "object" && address !== null);
      // A raw socket: the server answers (431) and closes while the header is still being written.
      const status = await new Promise<string>((resolve) => {
        let answer = "";
        const socket = connect(address.port, "127.0.0.1");
        socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
        socket.on("error", () => undefined); // EPIPE/ECONNRESET while writing: what is read still counts
        socket.on("close", () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? "closed"));
        socket.end(
          `GET /v1/nodes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${"x".repeat(10 * 1024 * 1024)}\r\n\r\n`,
        );
      });
      assert.ok(status === "431" || status === "closed", `answered ${status}`);
      // The server is still up.
      const ok = await injectAs(api.app, api.tokens.viewer)("/v1/nodes");
      assert.equal(ok.statusCode, 200);
    } finally {
      await api.close();
    }
  });
});

describe("property: the audit query", () => {
  const query = fc
    .record(
      {
        since: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string({ maxLength: 30 }),
          fc.constantFrom("2026-13-45T99:99:99Z", "0000-01-01T00:00:00Z", "1e9", "-1"),
        ),
        after: fc.oneof(fc.bigInt({ min: -2n, max: 10n ** 20n }).map(String), fc.string({ maxLength: 10 })),
        limit: fc.oneof(fc.integer({ min: -10, max: 5_000 }).map(String), fc.string({ maxLength: 10 })),
        other: fc.string({ maxLength: 10 }),
      },
      { requiredKeys: [] },
    )
    .map((q) => new URLSearchParams(q).toString());

  for (const kind of ["memory", "sqlite"] as const) {
    test(`any query on the ${kind} store: a page of at most 1,000 oldest first, or a 400 naming the field`, async () => {
      const store = kind === "memory" ? undefined : await openSqliteStore(join(tmp, "audit.db"));
      const api = testApi({ control: new FakeControlPlane(), ...(store ? { store } : {}) });
      try {
        await api.ready;
        // A few audited changes to page through.
        for (let i = 0; i < 5; i++)
          await api.inject({ method: "POST", url: "/v1/nodes/n1/drain", payload: {} });
        await fc.assert(
          fc.asyncProperty(query, async (q) => {
            const res = await api.inject(`/v1/audit?${q}`);
            if (res.statusCode === 200) {
              const page = res.json<AuditPage>();
              assert.ok(page.entries.length <= 1_000);
              const seqs = page.entries.map((e) => e.seq);
              assert.deepEqual(
                seqs,
                [...seqs].sort((a, b) => a - b),
              );
              assert.equal(typeof page.next, "number");
              return;
            }
            assert.equal(res.statusCode, 400, `${q}: ${res.statusCode} ${res.body}`);
            const body = res.json<ErrorBody>();
            assert.equal(body.error.code, ErrorCode.InvalidArgument);
            assert.match(body.error.message, /query\./);
          }),
          { numRuns: 150 },
        );
      } finally {
        await api.close();
        await store?.close();
      }
    });
  }
});
