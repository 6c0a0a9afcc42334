/**
 * The Bootstrap request's CSR with arbitrary input (issue 17): any text, a real request cut,
 * with a character changed or lines added, and a 10 MB one. readNodeCsr gives the node id only
 * for a request whose signature verifies; anything else is a HiveError invalid_argument or
 * permission_denied (the runner sees its message); nothing else escapes, and the size is bounded.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import fc from "fast-check";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { createNodeCsr, MAX_CSR_PEM_CHARS, readNodeCsr } from "./node-csr.ts";

const REFUSALS = new Set<string>([ErrorCode.InvalidArgument, ErrorCode.PermissionDenied]);

/** The node id, or the HiveError readNodeCsr refused with (anything else fails the test). */
async function read(pem: string): Promise<string | HiveError> {
  try {
    return (await readNodeCsr(pem)).nodeId;
  } catch (err) {
    assert.ok(err instanceof HiveError, `not a HiveError: ${String(err)}`);
    assert.ok(REFUSALS.has(err.code), `${err.code}: ${err.message}`);
    return err;
  }
}

describe("property: the Bootstrap request's CSR", () => {
  let real = "";
  before(async () => {
    real = (await createNodeCsr("tokyo-3")).csrPem;
  });

  test("the real request reads as its node", async () => {
    assert.equal(await read(real), "tokyo-3");
  });

  test("any text, and the real request damaged: the node id only if it still verifies, else a refusal with a code", async () => {
    const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    const damaged = fc.oneof(
      fc.string({ maxLength: 400 }),
      fc.nat({ max: real.length }).map((n) => real.slice(0, n)),
      fc
        .tuple(fc.nat({ max: real.length - 1 }), fc.constantFrom(...B64.split("")))
        .map(([i, c]) => real.slice(0, i) + c + real.slice(i + 1)),
      fc
        .tuple(fc.nat({ max: real.length }), fc.string({ maxLength: 50 }))
        .map(([i, junk]) => real.slice(0, i) + junk + real.slice(i)),
      fc
        .uint8Array({ maxLength: 300 })
        .map(
          (b) =>
            `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(b).toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`,
        ),
    );
    await fc.assert(
      fc.asyncProperty(damaged, async (pem) => {
        const result = await read(pem);
        if (typeof result === "string")
          assert.equal(result, "tokyo-3", "only the real request's node can verify");
      }),
      { numRuns: 150 },
    );
  });

  test("a 10 MB request is refused by its size, before it is decoded", async () => {
    const huge = real.replace("-----END", `${"A".repeat(10 * 1024 * 1024)}\n-----END`);
    const result = await read(huge);
    assert.ok(result instanceof HiveError);
    assert.equal(result.code, ErrorCode.InvalidArgument);
    assert.match(result.message, new RegExp(`at most ${MAX_CSR_PEM_CHARS}`));
  });
});
