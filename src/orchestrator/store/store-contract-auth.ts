/**
 * The contract of the store's API tokens and audit trail (auth-records.ts), registered beside the
 * main contract (store-contract.ts) for every implementation by store.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode } from "../../core/hive-error.ts";
import type { ApiTokenRecord, AuditInput } from "./auth-records.ts";
import { rejectsWith, storeRunner, type StoreFactory } from "./store-contract.ts";

/** A token record, for tests. */
export function sampleToken(id: string, over: Partial<ApiTokenRecord> = {}): ApiTokenRecord {
  return {
    id,
    name: `name-${id}`,
    role: "viewer",
    secretHash: "ab".repeat(32),
    createdAt: "2025-01-31T12:00:00.000Z",
    ...over,
  };
}

/** An audit entry made by a known token (`tokenId` given) or anonymous, for tests. */
export function sampleAudit(n: number, tokenId?: string): AuditInput {
  return {
    at: new Date(Date.UTC(2025, 0, 31, 12, 0, n)).toISOString(),
    ...(tokenId !== undefined ? { tokenId, tokenName: `name-${tokenId}`, role: "operator" as const } : {}),
    remote: "127.0.0.1",
    method: "POST",
    route: "/v1/layouts",
    params: { file: `layout-${n}.yaml` },
    status: tokenId === undefined ? 401 : 200,
    ...(tokenId === undefined ? { errorCode: "unauthenticated" } : {}),
  };
}

/** Registers the auth contract suite, named `name`, for stores made by `open`. */
export function registerAuthStoreContract(name: string, open: StoreFactory): void {
  const withStore = storeRunner(open);

  describe(`Store contract (tokens, audit): ${name}`, () => {
    test("tokens round-trip, list by creation, revoke once", () =>
      withStore(async (store) => {
        const a = sampleToken("a", { role: "admin", expiresAt: "2030-01-01T00:00:00.000Z" });
        const b = sampleToken("b", { createdAt: "2025-01-30T00:00:00.000Z" });
        await store.putToken(a);
        await store.putToken(b);
        assert.deepEqual(await store.getToken("a"), a);
        assert.equal(await store.getToken("nope"), undefined);
        assert.deepEqual(
          (await store.listTokens()).map((t) => t.id),
          ["b", "a"],
        );
        assert.equal(await store.revokeToken("a", "2025-02-01T00:00:00.000Z"), true);
        assert.equal(await store.revokeToken("a", "2025-02-02T00:00:00.000Z"), false, "once");
        assert.equal(await store.revokeToken("nope", "2025-02-02T00:00:00.000Z"), false);
        assert.equal((await store.getToken("a"))?.revokedAt, "2025-02-01T00:00:00.000Z");
        const got = await store.getToken("b");
        assert.ok(got && !("revokedAt" in got) && !("expiresAt" in got), "absent fields stay absent");
      }));

    test("a token's id is unique; its name is unique among tokens not revoked", () =>
      withStore(async (store) => {
        await store.putToken(sampleToken("a", { name: "ci" }));
        await rejectsWith(
          store.putToken(sampleToken("a", { name: "other" })),
          ErrorCode.AlreadyExists,
          /id "a"/,
        );
        await rejectsWith(
          store.putToken(sampleToken("b", { name: "ci" })),
          ErrorCode.AlreadyExists,
          /a token named "ci" exists \(id a\)/,
        );
        await store.revokeToken("a", "2025-02-01T00:00:00.000Z");
        await store.putToken(sampleToken("b", { name: "ci" }));
        assert.deepEqual(
          (await store.listTokens()).map((t) => [t.id, t.name, t.revokedAt !== undefined]),
          [
            ["a", "ci", true],
            ["b", "ci", false],
          ],
        );
      }));

    test("a malformed token is refused, naming the field but never showing the hash", () =>
      withStore(async (store) => {
        await rejectsWith(
          store.putToken({ ...sampleToken("a"), role: "root" as "admin" }),
          ErrorCode.InvalidArgument,
          /field "role".*one of viewer, operator, trader, admin/,
        );
        await assert.rejects(
          store.putToken(sampleToken("a", { secretHash: "s3cret-in-clear" })),
          (err: Error) => {
            assert.match(err.message, /field "secretHash" is "\(hidden\)", expected a SHA-256 hash/);
            assert.doesNotMatch(err.message, /s3cret/);
            return true;
          },
        );
        assert.deepEqual(await store.listTokens(), []);
      }));

    test("the audit trail: sequence numbers, the tail, paging after a seq, since a time", () =>
      withStore(async (store) => {
        const seqs: number[] = [];
        for (let n = 1; n <= 5; n++) seqs.push(await store.appendAudit(sampleAudit(n, "t1"), 100));
        assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
        const tail = await store.listAudit({ limit: 2 });
        assert.deepEqual(
          tail.map((e) => e.seq),
          [4, 5],
        );
        assert.deepEqual(tail[1], { seq: 5, ...sampleAudit(5, "t1") });
        const page1 = await store.listAudit({ after: 0, limit: 2 });
        const page2 = await store.listAudit({ after: page1.at(-1)!.seq, limit: 2 });
        const page3 = await store.listAudit({ after: page2.at(-1)!.seq, limit: 2 });
        assert.deepEqual(
          [page1, page2, page3].map((p) => p.map((e) => e.seq)),
          [[1, 2], [3, 4], [5]],
        );
        const since = await store.listAudit({ since: sampleAudit(4).at, limit: 10 });
        assert.deepEqual(
          since.map((e) => e.seq),
          [4, 5],
        );
        await rejectsWith(store.listAudit({ limit: 0 }), ErrorCode.InvalidArgument, /limit/);
        await rejectsWith(store.listAudit({ limit: 1001 }), ErrorCode.InvalidArgument, /limit/);
        await rejectsWith(
          store.listAudit({ since: "yesterday", limit: 1 }),
          ErrorCode.InvalidArgument,
          /since/,
        );
      }));

    test("the audit trail is bounded per class: anonymous refusals never push out known callers' entries", () =>
      withStore(async (store) => {
        for (let n = 1; n <= 3; n++) await store.appendAudit(sampleAudit(n, "t1"), 3);
        for (let n = 10; n <= 40; n++) await store.appendAudit(sampleAudit(n), 5);
        await store.appendAudit(sampleAudit(50, "t1"), 3);
        const all = await store.listAudit({ after: 0, limit: 1000 });
        assert.equal(all.filter((e) => e.tokenId === undefined).length, 5, "anonymous: the newest 5");
        assert.deepEqual(
          all.filter((e) => e.tokenId !== undefined).map((e) => e.params.file),
          ["layout-2.yaml", "layout-3.yaml", "layout-50.yaml"],
        );
        assert.deepEqual(
          all.filter((e) => e.tokenId === undefined).map((e) => e.params.file),
          ["layout-36.yaml", "layout-37.yaml", "layout-38.yaml", "layout-39.yaml", "layout-40.yaml"],
        );
        // Sequence numbers keep growing past trimmed entries: a reader's cursor stays valid.
        assert.equal(all.at(-1)?.seq, 35);
      }));

    test("an audit entry's strings are cut to size, and at most 8 params are kept", () =>
      withStore(async (store) => {
        const params = Object.fromEntries(
          Array.from({ length: 20 }, (_, i) => [`p${i}`, "x".repeat(10_000)]),
        );
        await store.appendAudit({ ...sampleAudit(1, "t1"), route: `/${"r".repeat(5000)}`, params }, 10);
        const [entry] = await store.listAudit({ limit: 1 });
        assert.ok(entry);
        assert.equal(Object.keys(entry.params).length, 8);
        assert.equal(entry.params.p0?.length, 200);
        assert.equal(entry.route.length, 200);
        assert.ok(JSON.stringify(entry).length < 4000);
      }));
  });
}
