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

  test("the gateway is stricter than the runner: a name past 128 characters is malformed there", () => {
    // The runner limits only clientOrderId; the gateway every name (pinned as it was before the
    // two codecs were merged: a strategy with such a symbol hears `malformed` from the gateway).
    const parsed = parseOrder(Buffer.from(JSON.stringify({ ...order, symbol: "S".repeat(129) })));
    assert.ok(parsed.ok);
    const read = parseEnvelope(stampOrder(parsed.order, { deploymentId: "d", epoch: 1n }, 0));
    assert.equal(read.ok ? "" : read.reason, "order.symbol: expected a non-empty string");
  });
});
