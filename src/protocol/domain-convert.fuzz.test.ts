/**
 * Fuzzing the runner protocol's conversions (issue 17, item 7): a socket pattern from the wire
 * (any enum number) and any caught value turned into the protocol's error. Each property: nothing
 * escapes but a HiveError invalid_argument, and an error always maps to a code the protocol has.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { fromProtoPattern, toProtoPattern, toRunnerError } from "./domain-convert.ts";
import { RunnerErrorCode } from "./index.ts";

const RUNNER_CODES = new Set<number>(Object.values(RunnerErrorCode).filter((v) => typeof v === "number"));

describe("fuzz: the runner protocol's conversions", () => {
  test("fromProtoPattern: any number is a pattern that converts back, or invalid_argument", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double()), (n) => {
        try {
          const pattern = fromProtoPattern(n);
          assert.equal(toProtoPattern(pattern), n);
        } catch (err) {
          assert.ok(err instanceof HiveError && err.code === ErrorCode.InvalidArgument, String(err));
        }
      }),
      { numRuns: 300 },
    );
  });

  test("toRunnerError: any thrown value maps to a protocol code and a message", () => {
    const thrown = fc.oneof(
      fc.anything(),
      fc.string().map((m) => new Error(m)),
      fc
        .tuple(fc.constantFrom(...Object.values(ErrorCode)), fc.string())
        .map(([c, m]) => new HiveError(c, m)),
    );
    fc.assert(
      fc.property(thrown, (value) => {
        const { code, message } = toRunnerError(value);
        assert.ok(RUNNER_CODES.has(code), `code ${code}`);
        assert.equal(typeof message, "string");
      }),
      { numRuns: 300 },
    );
  });
});
