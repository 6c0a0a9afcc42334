/**
 * The fencing envelope (DESIGN.md §4): the one frame a runner sends the gateway for each order,
 * built by the runner's order path and read by the gateway. This is the only file that reads it.
 *
 *   {deploymentId, epoch: "<decimal>", account, clientOrderId, sentAtUnixMs,
 *    order: {account, clientOrderId, symbol, side, qty, type, price?}}
 *
 * The envelope's fields come from the runner, never from the strategy: the order is rebuilt from
 * its own fields (order.ts) before it is stamped. The epoch is a decimal string, as a JSON number
 * cannot hold every uint64; the gateway compares it as text with its fence entry's.
 *
 * The gateway checks the envelope by hand rather than with a schema: this runs for every order,
 * and a schema parse costs more than the rest of the fence check. Its rules are the strategy's
 * (order.ts) and a few more: every name at most 128 characters, and the order's account and
 * clientOrderId the envelope's own. Its reasons are short, as the gateway's rejects have always
 * said them.
 */
import { isJsonObject, isPositiveNumber, type JsonObject } from "./json-fields.ts";
import { MAX_CLIENT_ORDER_ID, type Order } from "./order.ts";

/** Who may trade: stamped on every order by the runner, checked by the gateway's fence table. */
export interface FencingToken {
  readonly deploymentId: string;
  readonly epoch: bigint;
}

/** The one frame the runner sends to the gateway for an order. */
export interface OrderEnvelope {
  readonly deploymentId: string;
  /** The fencing epoch as a decimal string (uint64). */
  readonly epoch: string;
  readonly account: string;
  readonly clientOrderId: string;
  /** When the runner forwarded it, in milliseconds since the Unix epoch. */
  readonly sentAtUnixMs: number;
  readonly order: Order;
}

/** The outcome of reading one envelope frame. */
export type ParsedEnvelope =
  | { readonly ok: true; readonly envelope: OrderEnvelope }
  | {
      readonly ok: false;
      readonly reason: string;
      /** As much as could be read, for the reply ("" when unknown). */
      readonly account: string;
      readonly clientOrderId: string;
    };

/** The envelope the gateway receives for `order`, as one JSON frame. */
export function stampOrder(order: Order, token: FencingToken, sentAtUnixMs: number): string {
  const envelope: OrderEnvelope = {
    deploymentId: token.deploymentId,
    epoch: token.epoch.toString(),
    account: order.account,
    clientOrderId: order.clientOrderId,
    sentAtUnixMs,
    order,
  };
  return JSON.stringify(envelope);
}

const EPOCH = /^(0|[1-9][0-9]{0,19})$/;

function isName(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_CLIENT_ORDER_ID;
}

/** Reads one envelope frame (the text of it). */
export function parseEnvelope(text: string): ParsedEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return malformed("the frame is not JSON; expected one JSON object", undefined);
  }
  if (!isJsonObject(value)) return malformed("expected one JSON object", undefined);
  const { deploymentId, epoch, account, clientOrderId, sentAtUnixMs, order } = value;
  if (!isName(account)) return malformed("account: expected a non-empty string", value);
  if (!isName(clientOrderId)) return malformed("clientOrderId: expected 1 to 128 characters", value);
  if (!isName(deploymentId)) return malformed("deploymentId: expected a non-empty string", value);
  if (typeof epoch !== "string" || !EPOCH.test(epoch))
    return malformed("epoch: expected a decimal string", value);
  if (typeof sentAtUnixMs !== "number") return malformed("sentAtUnixMs: expected a number", value);
  if (!isJsonObject(order)) return malformed("order: expected an object", value);
  const { symbol, side, qty, type, price } = order;
  if (order.account !== account || order.clientOrderId !== clientOrderId)
    return malformed("order: account and clientOrderId must match the envelope's", value);
  if (!isName(symbol)) return malformed("order.symbol: expected a non-empty string", value);
  if (side !== "buy" && side !== "sell") return malformed("order.side: expected buy or sell", value);
  if (!isPositiveNumber(qty)) return malformed("order.qty: expected a finite number above zero", value);
  if (type !== "market" && type !== "limit") return malformed("order.type: expected market or limit", value);
  if (price !== undefined && !isPositiveNumber(price))
    return malformed("order.price: expected a finite number above zero", value);
  if (type === "limit" && price === undefined)
    return malformed("order.price: missing, expected a price for a limit order", value);
  const checked: Order =
    price === undefined
      ? { account, clientOrderId, symbol, side, qty, type }
      : { account, clientOrderId, symbol, side, qty, type, price };
  return {
    ok: true,
    envelope: { deploymentId, epoch, account, clientOrderId, sentAtUnixMs, order: checked },
  };
}

function malformed(reason: string, value: JsonObject | undefined): ParsedEnvelope {
  const account = value?.account;
  const id = value?.clientOrderId;
  return {
    ok: false,
    reason,
    account: typeof account === "string" ? account : "",
    clientOrderId: typeof id === "string" ? id : "",
  };
}
