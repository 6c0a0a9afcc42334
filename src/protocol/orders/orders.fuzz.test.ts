/**
 * Fuzzing the order path's parsers (issue 17, item 7): the runner's order parser, the gateway's
 * envelope parser and the runner's reply router are fed arbitrary bytes, arbitrary JSON and
 * near-valid orders. Each property: nothing throws, and a refusal is a reason the reply can carry
 * (the runner answers it as `bad-order`, the gateway as `malformed`). Runs are few, so the whole
 * fuzz suite stays under a few seconds; a failure prints its seed to replay.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { stampOrder, parseEnvelope } from "./envelope.ts";
import { parseOrder } from "./order.ts";
import { replyClientOrderId, runnerRejectReply } from "./replies.ts";
import { RunnerRejectCode } from "./reject-codes.ts";

const RUNS = { numRuns: 300 };

/** A JSON object with the order's keys, each any JSON value or a plausible one. */
const nearOrder = fc.record(
  {
    account: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
    clientOrderId: fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 1 })),
    symbol: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
    side: fc.oneof(fc.constantFrom("buy", "sell"), fc.jsonValue({ maxDepth: 1 })),
    qty: fc.oneof(fc.double(), fc.jsonValue({ maxDepth: 1 })),
    type: fc.oneof(fc.constantFrom("market", "limit"), fc.jsonValue({ maxDepth: 1 })),
    price: fc.oneof(fc.double(), fc.jsonValue({ maxDepth: 1 })),
    deploymentId: fc.jsonValue({ maxDepth: 1 }),
    epoch: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String), fc.jsonValue({ maxDepth: 1 })),
    sentAtUnixMs: fc.oneof(fc.double(), fc.jsonValue({ maxDepth: 1 })),
    order: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

/** Any frame: raw bytes, any JSON text, near-valid orders, deep nesting. */
const anyFrame = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? "")),
  nearOrder.map((o) => Buffer.from(JSON.stringify(o))),
  fc.string({ unit: "binary", maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.integer({ min: 1, max: 5_000 }).map((n) => Buffer.from("[".repeat(n) + "]".repeat(n))),
);

describe("fuzz: the order path's parsers", () => {
  test("parseOrder: never throws; an order or a reason the runner can send as bad-order", () => {
    fc.assert(
      fc.property(anyFrame, (frame) => {
        const parsed = parseOrder(frame);
        if (parsed.ok) {
          // What passed can be stamped, and the gateway reads the stamp back as valid (unless a
          // name the runner counts in code points is over 128 UTF-16 units).
          const stamped = stampOrder(parsed.order, { deploymentId: "dep-1", epoch: 3n }, 1);
          const back = parseEnvelope(stamped);
          if (!back.ok) assert.match(back.reason, /characters|non-empty string/);
          return;
        }
        assert.equal(typeof parsed.reason, "string");
        assert.ok(parsed.reason.length > 0);
        // The reject frame the runner answers with is one JSON object with its code.
        const reply = JSON.parse(
          runnerRejectReply(RunnerRejectCode.BadOrder, parsed.reason, parsed.clientOrderId),
        ) as Record<string, unknown>;
        assert.equal(reply["code"], "bad-order");
      }),
      RUNS,
    );
  });

  test("parseOrder: the reason stays small whatever the frame (values are cut when described)", () => {
    fc.assert(
      fc.property(nearOrder, fc.string({ minLength: 1000, maxLength: 5000 }), (order, long) => {
        const parsed = parseOrder(Buffer.from(JSON.stringify({ ...order, account: long, symbol: long })));
        assert.equal(parsed.ok, false);
        if (!parsed.ok)
          assert.ok(parsed.reason.length < 2_000, `reason of ${parsed.reason.length} characters`);
      }),
      { numRuns: 50 },
    );
  });

  test("parseEnvelope: never throws; valid, or a reason with the account and id as far as they are strings", () => {
    fc.assert(
      fc.property(anyFrame, (frame) => {
        const parsed = parseEnvelope(frame.toString());
        if (parsed.ok) return;
        assert.ok(parsed.reason.length > 0);
        assert.equal(typeof parsed.account, "string");
        assert.equal(typeof parsed.clientOrderId, "string");
      }),
      RUNS,
    );
  });

  test("replyClientOrderId: never throws; a string or nothing", () => {
    fc.assert(
      fc.property(anyFrame, (frame) => {
        const id = replyClientOrderId(frame);
        assert.ok(id === undefined || typeof id === "string");
      }),
      RUNS,
    );
  });
});
