/**
 * parseOrder against the zod schema the runner used before issue 15, kept here as the oracle:
 * strategies may match on the reasons, so the hand-written checks must give the same outcome,
 * reason for reason and byte for byte, on any frame.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { z } from "zod";
import { describeValue, formatPath } from "../../domain/validation-error.ts";
import { parseOrder, type ParsedOrder } from "./order.ts";

const oracleSchema = z.object({
  account: z.string().min(1, "a non-empty account").max(128, "an account of at most 128 characters"),
  clientOrderId: z
    .string()
    .min(1, "a non-empty clientOrderId")
    .max(128, "a clientOrderId of at most 128 characters"),
  symbol: z.string().min(1, "a non-empty symbol").max(128, "a symbol of at most 128 characters"),
  side: z.enum(["buy", "sell"], "buy or sell"),
  qty: z.number("a number").positive("a quantity above zero").finite("a finite quantity"),
  type: z.enum(["market", "limit"], "market or limit"),
  price: z.number("a number").positive("a price above zero").finite("a finite price").optional(),
});

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The runner's parseOrder as it was (src/runner/post-office/order-envelope.ts before issue 15). */
function oracle(frame: Uint8Array): ParsedOrder {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(frame));
  } catch {
    return { ok: false, reason: "the order frame is not UTF-8 JSON; expected one JSON object" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: `the order is ${describeValue(value)}; expected one JSON object` };
  }
  const id = (value as Record<string, unknown>)["clientOrderId"];
  const clientOrderId = typeof id === "string" && id !== "" ? id : undefined;
  const parsed = oracleSchema.safeParse(value);
  if (parsed.success) {
    if (parsed.data.type === "limit" && parsed.data.price === undefined) {
      return { ok: false, reason: "price: missing, expected a price for a limit order", clientOrderId };
    }
    return { ok: true, order: parsed.data };
  }
  const reason = parsed.error.issues
    .map((issue) => {
      const path = formatPath(issue.path);
      const found = issue.path.reduce<unknown>(
        (at, key) =>
          typeof at === "object" && at !== null ? (at as Record<PropertyKey, unknown>)[key] : undefined,
        value,
      );
      return `${path}: ${found === undefined ? "missing" : `found ${describeValue(found)}`}, expected ${issue.message}`;
    })
    .join("; ");
  return { ok: false, reason, clientOrderId };
}

/** Same outcome, and for an order the same JSON (its fields in the same order: the same envelope bytes). */
function assertSame(text: string | Buffer): void {
  const frame = typeof text === "string" ? Buffer.from(text) : text;
  const got = parseOrder(frame);
  let want: ParsedOrder;
  try {
    want = oracle(frame);
  } catch {
    // zod threw on some hostile frames (a `length` that cannot be made a number), which ended the
    // strategy's order loop; the contract refuses them instead.
    assert.equal(got.ok, false, `for ${frame.toString()}`);
    return;
  }
  assert.deepEqual(got, want, `for ${frame.toString()}`);
  if (got.ok && want.ok) assert.equal(JSON.stringify(got.order), JSON.stringify(want.order));
}

/** Anything a field may hold, right or wrong. */
const anyField = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom("buy", "sell", "market", "limit", "", "ES", "x".repeat(128), "x".repeat(129)),
  fc.string({ maxLength: 140 }),
  fc.double(),
  fc.integer({ min: -5, max: 5 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
  // zod's length rules ran on anything with a `length`, and counted a string's code points.
  fc.array(fc.integer(), { minLength: 128, maxLength: 130 }),
  fc.record({ length: fc.jsonValue({ maxDepth: 1 }) }),
  fc.string({ unit: "binary", minLength: 60, maxLength: 140 }),
);

const valid = {
  account: fc.string({ minLength: 1, maxLength: 10 }),
  clientOrderId: fc.string({ minLength: 1, maxLength: 128 }),
  symbol: fc.string({ minLength: 1, maxLength: 10 }),
  side: fc.constantFrom("buy", "sell"),
  qty: fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }),
  type: fc.constantFrom("market", "limit"),
  price: fc.option(fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }), {
    nil: undefined,
  }),
};

/** Each field right or wrong, in any key order, with extra fields. */
const anyOrder = fc
  .record({
    account: fc.oneof(valid.account, anyField),
    clientOrderId: fc.oneof(valid.clientOrderId, anyField),
    symbol: fc.oneof(valid.symbol, anyField),
    side: fc.oneof(valid.side, anyField),
    qty: fc.oneof(valid.qty, anyField),
    type: fc.oneof(valid.type, anyField),
    price: fc.oneof(valid.price, anyField),
    extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    reversed: fc.boolean(),
  })
  .map(({ extra, reversed, ...fields }) => {
    const entries = Object.entries({ ...extra, ...fields });
    return JSON.stringify(Object.fromEntries(reversed ? entries.reverse() : entries));
  });

describe("parseOrder reads orders as the runner's zod schema did", () => {
  test("on generated orders, right and wrong, field by field", () => {
    fc.assert(fc.property(anyOrder, assertSame), { numRuns: 5_000 });
  });

  test("on any JSON value and any bytes", () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 2 }), (v) => assertSame(JSON.stringify(v) ?? "")));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => assertSame(Buffer.from(bytes))));
  });

  test("on what JSON can say and JavaScript cannot build", () => {
    const good = '"account":"A","clientOrderId":"c1","symbol":"ES","side":"sell","type":"limit"';
    for (const text of [
      `{${good},"qty":1e999,"price":1}`,
      `{${good},"qty":-1e999,"price":-1e999}`,
      `{${good},"qty":3,"price":1e999}`,
      `{${good},"qty":-0,"price":0}`,
      `{${good},"qty":3,"price":2,"account":"B"}`,
      `{${good},"qty":3,"price":2,"__proto__":{"x":1}}`,
      `{"account":1e999,"clientOrderId":-1e999,"symbol":[],"side":{},"qty":"3","type":true}`,
      `{${good},"qty":3,"price":2,"clientOrderId":"${"\ud83d\ude00".repeat(128)}"}`,
      `{${good},"qty":3,"price":2,"clientOrderId":"${"\ud83d\ude00".repeat(129)}"}`,
      `{${good},"qty":3,"price":2,"clientOrderId":"${"\ud83d".repeat(129)}"}`,
      `{${good},"qty":3,"price":2,"clientOrderId":{"length":"x"},"account":{"length":0}}`,
      `{${good},"qty":3,"price":2,"clientOrderId":{"length":null},"symbol":{"length":[2]}}`,
      `{${good},"qty":3,"price":2,"account":{"length":{"toString":""}},"clientOrderId":{"length":{"valueOf":1,"toString":[]}}}`,
      `{${good.replace('"A"', '"\\u00e9\\ud83d\\ude00"')},"qty":3,"price":2}`,
      "",
      "   ",
      "{}",
    ])
      assertSame(text);
  });
});

describe("parseOrder on hostile frames", () => {
  test("refuses, and never throws on, a length that cannot be made a number (zod threw, ending the order loop)", () => {
    const frame = Buffer.from(
      '{"account":{"length":{"toString":""}},"clientOrderId":"c1","symbol":"ES","side":"buy","qty":1,"type":"market"}',
    );
    assert.deepEqual(parseOrder(frame), {
      ok: false,
      reason:
        "account: found an object, expected Invalid input: expected string, received object; " +
        "account: found an object, expected a non-empty account; " +
        "account: found an object, expected an account of at most 128 characters",
      clientOrderId: "c1",
    });
  });
});
