import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode, HiveError } from "./hive-error.ts";

describe("HiveError", () => {
  test("carries its code, message, name and cause", () => {
    const cause = new Error("socket closed");
    const err = new HiveError(ErrorCode.Unavailable, "orchestrator unreachable", { cause });
    assert.ok(err instanceof Error);
    assert.equal(err.code, "unavailable");
    assert.equal(err.message, "orchestrator unreachable");
    assert.equal(err.name, "HiveError");
    assert.equal(err.cause, cause);
    assert.match(String(err), /^HiveError: orchestrator unreachable/);
  });

  test("the codes are the closed set of snake_case strings", () => {
    assert.deepEqual(Object.values(ErrorCode).sort(), [
      "already_exists",
      "failed_precondition",
      "internal",
      "invalid_argument",
      "not_found",
      "permission_denied",
      "unauthenticated",
      "unavailable",
    ]);
  });
});

describe("HiveError.from", () => {
  test("returns a HiveError as it is, whatever code is asked for", () => {
    const original = new HiveError(ErrorCode.NotFound, "no node n1");
    assert.equal(HiveError.from(original), original);
    const same = HiveError.from(original, ErrorCode.Unavailable);
    assert.equal(same, original);
    assert.equal(same.code, "not_found");
  });

  test("keeps the identity of a HiveError subclass", () => {
    class FencedError extends HiveError {
      constructor() {
        super(ErrorCode.PermissionDenied, "fenced");
      }
    }
    const original = new FencedError();
    const got = HiveError.from(original);
    assert.equal(got, original);
    assert.ok(got instanceof FencedError);
  });

  test("wraps an Error with its message, the default code internal, and the Error as cause", () => {
    const original = new TypeError("x is not a function");
    const err = HiveError.from(original);
    assert.ok(err instanceof HiveError);
    assert.notEqual(err, original);
    assert.equal(err.code, ErrorCode.Internal);
    assert.equal(err.message, "x is not a function");
    assert.equal(err.cause, original);
  });

  test("wraps an Error with the code it is given", () => {
    const original = new Error("ECONNREFUSED 127.0.0.1:7400");
    const err = HiveError.from(original, ErrorCode.Unavailable);
    assert.equal(err.code, "unavailable");
    assert.equal(err.message, original.message);
    assert.equal(err.cause, original);
  });

  test("wraps a thrown string as the message, keeping it as cause", () => {
    const err = HiveError.from("boom", ErrorCode.InvalidArgument);
    assert.ok(err instanceof HiveError);
    assert.equal(err.code, "invalid_argument");
    assert.equal(err.message, "boom");
    assert.equal(err.cause, "boom");
  });

  test("wraps other thrown values by their string form", () => {
    const cases: [unknown, string][] = [
      [42, "42"],
      [undefined, "undefined"],
      [null, "null"],
      [{ toString: () => "custom" }, "custom"],
    ];
    for (const [reason, message] of cases) {
      const err = HiveError.from(reason);
      assert.equal(err.code, "internal");
      assert.equal(err.message, message);
      assert.equal(err.cause, reason);
    }
  });
});
