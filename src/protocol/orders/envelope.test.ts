import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseEnvelope, stampOrder } from "./envelope.ts";
import { parseOrder, type Order } from "./order.ts";

const order: Order = { account: "A", clientOrderId: "c1", symbol: "ES", side: "buy", qty: 2, type: "market" };
const envelope = {
  deploymentId: "dep-1",
  epoch: "7",
  account: "A",
  clientOrderId: "c1",
  sentAtUnixMs: 1234,
  order,
};

/** A name the gateway takes: 1 to 128 characters. */
const name = fc.string({ minLength: 1, maxLength: 128 });
const positive = fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true });
const anyOrder: fc.Arbitrary<Order> = fc
  .record({
    account: name,
    clientOrderId: name,
    symbol: name,
    side: fc.constantFrom("buy", "sell"),
    qty: positive,
    type: fc.constantFrom("market", "limit"),
    price: positive,
  })
  .map(({ price, ...o }) => (o.type === "limit" ? { ...o, price } : o));
const anyToken = fc.record({
  deploymentId: name,
  epoch: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
});

describe("the fencing envelope", () => {
  test("what the runner stamps, the gateway reads back as it was (any order, any uint64 epoch)", () => {
    fc.assert(
      fc.property(anyOrder, anyToken, fc.integer({ min: 0 }), (o, token, sentAtUnixMs) => {
        // The runner stamps what its own parser gave it: the order as the strategy sent it.
        const parsed = parseOrder(Buffer.from(JSON.stringify(o)));
        assert.ok(parsed.ok, parsed.ok ? "" : parsed.reason);
        const read = parseEnvelope(stampOrder(parsed.order, token, sentAtUnixMs));
        assert.deepEqual(read, {
          ok: true,
          envelope: {
            deploymentId: token.deploymentId,
            epoch: token.epoch.toString(),
            account: o.account,
            clientOrderId: o.clientOrderId,
            sentAtUnixMs,
            order: o,
          },
        });
      }),
      { numRuns: 2_000 },
    );
  });

  test("a malformed envelope is refused with what could be read of its ids", () => {
    const cases: [string, string, string, string][] = [
      ["{not json", "the frame is not JSON; expected one JSON object", "", ""],
      ["[1]", "expected one JSON object", "", ""],
      [JSON.stringify({ ...envelope, account: "" }), "account: expected a non-empty string", "", "c1"],
      [
        JSON.stringify({ ...envelope, clientOrderId: "x".repeat(129) }),
        "clientOrderId: expected 1 to 128 characters",
        "A",
        "x".repeat(129),
      ],
      [
        JSON.stringify({ ...envelope, deploymentId: 7 }),
        "deploymentId: expected a non-empty string",
        "A",
        "c1",
      ],
      [JSON.stringify({ ...envelope, epoch: 7 }), "epoch: expected a decimal string", "A", "c1"],
      [JSON.stringify({ ...envelope, epoch: "007" }), "epoch: expected a decimal string", "A", "c1"],
      [JSON.stringify({ ...envelope, epoch: "1".repeat(21) }), "epoch: expected a decimal string", "A", "c1"],
      [JSON.stringify({ ...envelope, sentAtUnixMs: "1" }), "sentAtUnixMs: expected a number", "A", "c1"],
      [JSON.stringify({ ...envelope, order: [] }), "order: expected an object", "A", "c1"],
      [
        JSON.stringify({ ...envelope, order: { ...order, account: "B" } }),
        "order: account and clientOrderId must match the envelope's",
        "A",
        "c1",
      ],
      [
        JSON.stringify({ ...envelope, order: { ...order, symbol: "" } }),
        "order.symbol: expected a non-empty string",
        "A",
        "c1",
      ],
      [
        JSON.stringify({ ...envelope, order: { ...order, side: "short" } }),
        "order.side: expected buy or sell",
        "A",
        "c1",
      ],
      [
        JSON.stringify({ ...envelope, order: { ...order, qty: 0 } }),
        "order.qty: expected a finite number above zero",
        "A",
        "c1",
      ],
      [
        JSON.stringify({ ...envelope, order: { ...order, type: "stop" } }),
        "order.type: expected market or limit",
        "A",
        "c1",
      ],
      [
        JSON.stringify({ ...envelope, order: { ...order, price: -1 } }),
        "order.price: expected a finite number above zero",
        "A",
        "c1",
      ],
      [
        JSON.stringify({ ...envelope, order: { ...order, type: "limit" } }),
        "order.price: missing, expected a price for a limit order",
        "A",
        "c1",
      ],
    ];
    for (const [text, reason, account, clientOrderId] of cases)
      assert.deepEqual(parseEnvelope(text), { ok: false, reason, account, clientOrderId }, text);
  });

  test("fields outside the contract are dropped, in the envelope and in its order", () => {
    const read = parseEnvelope(JSON.stringify({ ...envelope, extra: 1, order: { ...order, note: "x" } }));
    assert.deepEqual(read, { ok: true, envelope });
  });

  test("the runner refuses a name past 128 characters, as the gateway would: its envelopes stay small", () => {
    // The runner limits account, clientOrderId and symbol to 128 characters, as the gateway does
    // (issue 17: an envelope it stamps is then a few KiB at most, under the gateway's frame limit).
    const parsed = parseOrder(Buffer.from(JSON.stringify({ ...order, symbol: "S".repeat(129) })));
    assert.match(
      parsed.ok ? "" : parsed.reason,
      /^symbol: found "S+\.\.\., expected a symbol of at most 128 characters$/,
    );
    const fits = parseOrder(Buffer.from(JSON.stringify({ ...order, symbol: "S".repeat(128) })));
    assert.ok(fits.ok);
    assert.ok(parseEnvelope(stampOrder(fits.order, { deploymentId: "d", epoch: 1n }, 0)).ok);
  });
});

describe("parseEnvelope on arbitrary input (what reaches the gateway's socket)", () => {
  /** An envelope whose fields each may be right, wrong or missing. */
  const anyField = fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }), name);
  const anyEnvelope = fc.record({
    deploymentId: anyField,
    epoch: fc.oneof(anyField, fc.bigInt({ min: -1n, max: 2n ** 70n }).map(String)),
    account: anyField,
    clientOrderId: anyField,
    sentAtUnixMs: anyField,
    order: fc.oneof(anyField, fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 }))),
  });

  /** What the gateway may rely on in an envelope it accepted. */
  function assertSound(text: string): void {
    const parsed = parseEnvelope(text);
    if (!parsed.ok) {
      assert.equal(typeof parsed.reason, "string");
      assert.equal(typeof parsed.account, "string");
      assert.equal(typeof parsed.clientOrderId, "string");
      return;
    }
    const e = parsed.envelope;
    for (const n of [e.deploymentId, e.account, e.clientOrderId, e.order.symbol]) {
      assert.ok(typeof n === "string" && n.length >= 1 && n.length <= 128);
    }
    assert.match(e.epoch, /^(0|[1-9][0-9]{0,19})$/);
    assert.equal(typeof e.sentAtUnixMs, "number");
    assert.equal(e.order.account, e.account);
    assert.equal(e.order.clientOrderId, e.clientOrderId);
    assert.ok(e.order.qty > 0 && Number.isFinite(e.order.qty));
    assert.ok(e.order.type === "market" || (e.order.price !== undefined && e.order.price > 0));
    // Only the contract's fields, whatever else came.
    assert.deepEqual(Object.keys(e).sort(), [
      "account",
      "clientOrderId",
      "deploymentId",
      "epoch",
      "order",
      "sentAtUnixMs",
    ]);
  }

  test("never throws, and an accepted one holds every rule, for any text, JSON or envelope", () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), assertSound), { numRuns: 2_000 });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => assertSound(JSON.stringify(v) ?? "")),
      {
        numRuns: 2_000,
      },
    );
    fc.assert(
      fc.property(anyEnvelope, (v) => assertSound(JSON.stringify(v))),
      { numRuns: 3_000 },
    );
    fc.assert(
      fc.property(anyOrder, anyToken, fc.jsonValue({ maxDepth: 1 }), (o, token, extra) =>
        assertSound(JSON.stringify({ ...JSON.parse(stampOrder(o, token, 1)), extra })),
      ),
      { numRuns: 1_000 },
    );
  });
});
