/**
 * The order a strategy sends (DESIGN.md §4): one frame, one JSON object
 * `{account, clientOrderId, symbol, side, qty, type, price?}`, read by the runner's order path.
 *
 * The checks are written by hand, not with a schema library: this runs for every order. Their
 * reasons are, byte for byte, those of the zod schema the runner used until issue 15 (every field
 * that breaks a rule, in field order, joined by "; "), because strategies may match on them;
 * order.test.ts checks the two agree on generated orders.
 */
import { describeValue } from "../../domain/validation-error.ts";
import { isJsonObject, utf8 } from "./json-fields.ts";

/** Which way an order trades. */
export type Side = "buy" | "sell";

/** How an order is priced: at the market, or at its limit `price`. */
export type OrderType = "market" | "limit";

/** The most characters a `clientOrderId` may have. */
export const MAX_CLIENT_ORDER_ID = 128;

/** An order as a strategy sends it, after its checks; also the `order` inside an envelope. */
export interface Order {
  readonly account: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly type: OrderType;
  /** Required for a limit order. */
  readonly price?: number;
}

/** The outcome of reading one order frame. */
export type ParsedOrder =
  | { readonly ok: true; readonly order: Order }
  | { readonly ok: false; readonly reason: string; readonly clientOrderId?: string };

const MAX_ID_RULE = "a clientOrderId of at most 128 characters";
// The gateway refuses an account or symbol over 128 characters too (envelope.ts): refused here,
// they keep every envelope the runner stamps a few KiB at most, far below the gateway's frame
// limit, whatever order limit the runner is given.
const MAX_ACCOUNT_RULE = "an account of at most 128 characters";
const MAX_SYMBOL_RULE = "a symbol of at most 128 characters";
const NOT_JSON = "the order frame is not UTF-8 JSON; expected one JSON object";
const LIMIT_WITHOUT_PRICE = "price: missing, expected a price for a limit order";

/**
 * Reads one order frame: the order rebuilt from its own fields only (anything else the strategy
 * sent, such as a forged `deploymentId`, is dropped), or the reason it was refused.
 */
export function parseOrder(frame: Uint8Array): ParsedOrder {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(frame));
  } catch {
    return { ok: false, reason: NOT_JSON };
  }
  if (!isJsonObject(value)) {
    return { ok: false, reason: `the order is ${describeValue(value)}; expected one JSON object` };
  }
  const { account, clientOrderId, symbol, side, qty, type, price } = value;
  // Each field in order; `reason` stays "" (no allocation) while every one is right.
  let reason = "";
  reason = stringField(reason, "account", account, "a non-empty account", MAX_ACCOUNT_RULE);
  reason = stringField(reason, "clientOrderId", clientOrderId, "a non-empty clientOrderId", MAX_ID_RULE);
  reason = stringField(reason, "symbol", symbol, "a non-empty symbol", MAX_SYMBOL_RULE);
  if (side !== "buy" && side !== "sell") reason = issue(reason, "side", side, "buy or sell");
  if (typeof qty !== "number" || !Number.isFinite(qty)) reason = issue(reason, "qty", qty, "a number");
  else if (qty <= 0) reason = issue(reason, "qty", qty, "a quantity above zero");
  if (type !== "market" && type !== "limit") reason = issue(reason, "type", type, "market or limit");
  if (price !== undefined) {
    if (typeof price !== "number" || !Number.isFinite(price))
      reason = issue(reason, "price", price, "a number");
    else if (price <= 0) reason = issue(reason, "price", price, "a price above zero");
  }
  if (reason !== "") {
    const id = typeof clientOrderId === "string" && clientOrderId !== "" ? clientOrderId : undefined;
    return { ok: false, reason, clientOrderId: id };
  }
  // Every field passed its check above; the casts only tell the compiler so. The order is built
  // in one literal, its fields in the wire's order, so the envelope's bytes are the same as ever.
  if (price === undefined) {
    if (type === "limit")
      return { ok: false, reason: LIMIT_WITHOUT_PRICE, clientOrderId: clientOrderId as string };
    return { ok: true, order: { account, clientOrderId, symbol, side, qty, type } as Order };
  }
  return { ok: true, order: { account, clientOrderId, symbol, side, qty, type, price } as Order };
}

/** `so` with one more field's problem: `<field>: found <value>, expected <rule>` (or `missing`). */
function issue(so: string, field: string, found: unknown, expected: string): string {
  const what = `${field}: ${found === undefined ? "missing" : `found ${describeValue(found)}`}, expected ${expected}`;
  return so === "" ? what : `${so}; ${what}`;
}

/**
 * `so` with the problems of a string field: not a string, empty, or (with `longRule`) longer than
 * MAX_CLIENT_ORDER_ID characters. As zod did: the length is in code points, and its length rules
 * also ran on a value of another type that has a `length` (a list, an object with that key).
 */
function stringField(
  so: string,
  field: string,
  value: unknown,
  emptyRule: string,
  longRule: string | undefined,
): string {
  if (typeof value === "string") {
    if (value === "") return issue(so, field, value, emptyRule);
    if (
      longRule !== undefined &&
      value.length > MAX_CLIENT_ORDER_ID &&
      codePoints(value) > MAX_CLIENT_ORDER_ID
    )
      return issue(so, field, value, longRule);
    return so;
  }
  let reason = issue(so, field, value, expectedString(value));
  if (value === null || value === undefined) return reason;
  // Compared with JavaScript's own operators, as zod compared it, whatever the type.
  const length = (value as { length?: unknown }).length as number | undefined;
  if (length === undefined) return reason;
  let tooShort: boolean;
  let tooLong: boolean;
  try {
    tooShort = !(length >= 1);
    tooLong = longRule !== undefined && !(length <= MAX_CLIENT_ORDER_ID);
  } catch {
    // A `length` that cannot be made a number ({"toString": ""} is not callable): zod threw here,
    // and the throw ended the strategy's order loop for good. Any frame must end in a reject.
    tooShort = true;
    tooLong = longRule !== undefined;
  }
  if (tooShort) reason = issue(reason, field, value, emptyRule);
  if (tooLong && longRule !== undefined) reason = issue(reason, field, value, longRule);
  return reason;
}

/** The number of code points of `text` (a surrogate pair is one). */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

/** What a string field that holds something else is told (zod's wording, kept for strategies). */
function expectedString(found: unknown): string {
  return `Invalid input: expected string, received ${jsonTypeName(found)}`;
}

/** The name zod gives a JSON value's type in that wording. */
function jsonTypeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value;
}
