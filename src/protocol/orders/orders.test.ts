import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseOrder, replyClientOrderId, RunnerRejectCode, runnerRejectReply, stampOrder } from "./index.ts";

const bytes = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value));
const good = { account: "A", clientOrderId: "c1", symbol: "ES", side: "sell", qty: 3, type: "market" };

describe("order envelope", () => {
  test("parses a valid order and keeps only the order's own fields", () => {
    const parsed = parseOrder(bytes({ ...good, deploymentId: "evil", epoch: "99", note: "x" }));
    assert.deepEqual(parsed, { ok: true, order: good });
  });

  test("a limit order needs a price; a market order may not have a bad one", () => {
    assert.deepEqual(parseOrder(bytes({ ...good, type: "limit", price: 10.5 })), {
      ok: true,
      order: { ...good, type: "limit", price: 10.5 },
    });
    const noPrice = parseOrder(bytes({ ...good, type: "limit" }));
    assert.equal(noPrice.ok, false);
    assert.match(noPrice.ok ? "" : noPrice.reason, /price: missing, expected a price for a limit order/);
    assert.equal(noPrice.ok ? "" : noPrice.clientOrderId, "c1");
    assert.equal(parseOrder(bytes({ ...good, price: 0 })).ok, false);
  });

  test("says what is wrong with a malformed order, field by field", () => {
    const cases: [unknown, RegExp][] = [
      ["{not json", /not UTF-8 JSON/],
      [Buffer.from([0xff, 0xfe]), /not UTF-8 JSON/],
      [[1, 2], /the order is a list of 2; expected one JSON object/],
      ["42", /the order is 42; expected one JSON object/],
      [{ ...good, qty: 0 }, /^qty: found 0, expected a quantity above zero$/],
      [{ ...good, qty: "3" }, /^qty: found "3", expected a number$/],
      [{ ...good, side: "short" }, /^side: found "short", expected buy or sell$/],
      [{ ...good, account: undefined }, /^account: missing, expected /],
      [{ ...good, clientOrderId: "" }, /clientOrderId: found "", expected a non-empty clientOrderId/],
      [
        { ...good, symbol: 1, type: "stop" },
        /symbol: found 1, .*; type: found "stop", expected market or limit/,
      ],
    ];
    for (const [input, reason] of cases) {
      const parsed = parseOrder(Buffer.isBuffer(input) ? input : bytes(input));
      assert.equal(parsed.ok, false, `${JSON.stringify(input)} should be refused`);
      assert.match(parsed.ok ? "" : parsed.reason, reason);
    }
  });

  test("stamps the runner's token; the epoch is a decimal string beyond 2^53", () => {
    const parsed = parseOrder(bytes(good));
    assert.ok(parsed.ok);
    const frame = stampOrder(parsed.order, { deploymentId: "dep-1", epoch: 9_007_199_254_740_993n }, 1234);
    assert.deepEqual(JSON.parse(frame), {
      deploymentId: "dep-1",
      epoch: "9007199254740993",
      account: "A",
      clientOrderId: "c1",
      sentAtUnixMs: 1234,
      order: good,
    });
  });

  test("rejects and reply routing", () => {
    assert.deepEqual(JSON.parse(runnerRejectReply(RunnerRejectCode.PathClosed, "closed", "c9")), {
      type: "reject",
      code: "path-closed",
      reason: "closed",
      clientOrderId: "c9",
    });
    assert.deepEqual(JSON.parse(runnerRejectReply(RunnerRejectCode.BadOrder, "bad")), {
      type: "reject",
      code: "bad-order",
      reason: "bad",
    });
    assert.equal(replyClientOrderId(bytes({ type: "fill", clientOrderId: "c2" })), "c2");
    assert.equal(replyClientOrderId(bytes({ type: "fill" })), undefined);
    assert.equal(replyClientOrderId(bytes("nope")), undefined);
  });
});
