/**
 * The gateway's side of the order wire format (DESIGN.md §4): reading the runner's envelope and
 * writing replies. Every reply is one JSON frame and always carries `account` and `clientOrderId`,
 * because the runner routes replies to strategies by clientOrderId.
 *
 *   runner → gateway   {deploymentId, epoch: "<decimal>", account, clientOrderId, sentAtUnixMs,
 *                       order: {account, clientOrderId, symbol, side, qty, type, price?}}
 *   gateway → runner   {type: "ack" | "fill" | "reject" | "duplicate" | "cancelled" | "pending", ...}
 *
 * The envelope is checked by hand rather than with zod: this runs for every order, and a schema
 * parse costs more than the rest of the fence check. The checks are those of the runner's
 * order-envelope.ts, plus the envelope's own fields.
 */
import type { BrokerEvent } from "./broker-adapter.ts";

/** Why an order was not accepted; the closed set of `code`s of a reject reply. */
export const RejectCode = {
  /** The account has no fence entry: default deny. */
  NotFenced: "not-fenced",
  /** Another deployment holds the account. */
  Fenced: "fenced",
  /** The right deployment with an epoch other than the fenced one. */
  StaleEpoch: "stale-epoch",
  /** The account's kill switch is on. */
  Killed: "killed",
  RiskSize: "risk-size",
  RiskNotional: "risk-notional",
  RiskRate: "risk-rate",
  RiskDuplicative: "risk-duplicative",
  /** Not a valid envelope. */
  Malformed: "malformed",
  /** Arrived more than maxOrderAgeMs after its runner sent it (a partition delivered it late). */
  StaleOrder: "stale-order",
  /** A market order for a symbol with no known price. */
  NoPrice: "no-price",
  /** The broker refused it. */
  Broker: "broker",
} as const;

/** One of the {@link RejectCode} values. */
export type RejectCode = (typeof RejectCode)[keyof typeof RejectCode];

/** Order sides and types. */
export type Side = "buy" | "sell";
/** Order types. */
export type OrderType = "market" | "limit";

/** The order inside an envelope. */
export interface WireOrder {
  readonly account: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly type: OrderType;
  readonly price?: number;
}

/** The runner's envelope, checked. */
export interface Envelope {
  readonly deploymentId: string;
  /** Decimal digits, compared as text with the fence entry's epoch. */
  readonly epoch: string;
  readonly account: string;
  readonly clientOrderId: string;
  readonly sentAtUnixMs: number;
  readonly order: WireOrder;
}

/** The outcome of reading one frame. */
export type ParsedEnvelope =
  | { readonly ok: true; readonly envelope: Envelope }
  | {
      readonly ok: false;
      readonly reason: string;
      /** As much as could be read, for the reply ("" when unknown). */
      readonly account: string;
      readonly clientOrderId: string;
    };

/** The idempotency key of an order: ids are per account. */
export function orderKey(account: string, clientOrderId: string): string {
  return `${account}\u0001${clientOrderId}`;
}

/** The status of an order as a `duplicate` reply reports it. */
export type KnownStatus = "filled" | "resting" | "cancelled" | "rejected" | "unknown";

const EPOCH = /^(0|[1-9][0-9]{0,19})$/;
const MAX_ID = 128;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isName(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_ID;
}

function isPositive(value: unknown): value is number {
  return typeof value === "number" && value > 0 && Number.isFinite(value);
}

/** Reads one envelope frame (the text of it). */
export function parseEnvelope(text: string): ParsedEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return malformed("the frame is not JSON; expected one JSON object", undefined);
  }
  if (!isObject(value)) return malformed("expected one JSON object", undefined);
  const { deploymentId, epoch, account, clientOrderId, sentAtUnixMs, order } = value;
  if (!isName(account)) return malformed("account: expected a non-empty string", value);
  if (!isName(clientOrderId)) return malformed("clientOrderId: expected 1 to 128 characters", value);
  if (!isName(deploymentId)) return malformed("deploymentId: expected a non-empty string", value);
  if (typeof epoch !== "string" || !EPOCH.test(epoch))
    return malformed("epoch: expected a decimal string", value);
  if (typeof sentAtUnixMs !== "number") return malformed("sentAtUnixMs: expected a number", value);
  if (!isObject(order)) return malformed("order: expected an object", value);
  const { symbol, side, qty, type, price } = order;
  if (order.account !== account || order.clientOrderId !== clientOrderId)
    return malformed("order: account and clientOrderId must match the envelope's", value);
  if (!isName(symbol)) return malformed("order.symbol: expected a non-empty string", value);
  if (side !== "buy" && side !== "sell") return malformed("order.side: expected buy or sell", value);
  if (!isPositive(qty)) return malformed("order.qty: expected a finite number above zero", value);
  if (type !== "market" && type !== "limit") return malformed("order.type: expected market or limit", value);
  if (price !== undefined && !isPositive(price))
    return malformed("order.price: expected a finite number above zero", value);
  if (type === "limit" && price === undefined)
    return malformed("order.price: missing, expected a price for a limit order", value);
  const wire: WireOrder =
    price === undefined
      ? { account, clientOrderId, symbol, side, qty, type }
      : { account, clientOrderId, symbol, side, qty, type, price };
  return { ok: true, envelope: { deploymentId, epoch, account, clientOrderId, sentAtUnixMs, order: wire } };
}

function malformed(reason: string, value: Json | undefined): ParsedEnvelope {
  const account = value?.account;
  const id = value?.clientOrderId;
  return {
    ok: false,
    reason,
    account: typeof account === "string" ? account : "",
    clientOrderId: typeof id === "string" ? id : "",
  };
}

/** An `ack` reply: the broker took the order. */
export function ackReply(
  account: string,
  clientOrderId: string,
  deploymentId: string,
  epoch: string,
  status: "filled" | "resting",
): string {
  return JSON.stringify({ type: "ack", account, clientOrderId, deploymentId, epoch, status });
}

/**
 * A `fill` reply: the broker's fill event, its fields named one by one (an adapter's extra fields
 * stay out, and `type` comes first, as in every reply). Also the detail of the fill's audit row.
 */
export function fillReply(fill: Extract<BrokerEvent, { type: "fill" }>): string {
  const { account, clientOrderId, symbol, side, qty, price, fillId } = fill;
  return JSON.stringify({ type: "fill", account, clientOrderId, symbol, side, qty, price, fillId });
}

/** A `reject` reply. */
export function rejectReply(
  account: string,
  clientOrderId: string,
  code: RejectCode,
  reason: string,
): string {
  return JSON.stringify({ type: "reject", account, clientOrderId, code, reason });
}

/** A `duplicate` reply: the id was seen before; the order was not sent again. */
export function duplicateReply(account: string, clientOrderId: string, status: KnownStatus): string {
  return JSON.stringify({ type: "duplicate", account, clientOrderId, status });
}

/** A `cancelled` reply for a resting order (fence moved, kill switch). */
export function cancelledReply(account: string, clientOrderId: string, reason: string): string {
  return JSON.stringify({ type: "cancelled", account, clientOrderId, reason });
}

/** A `pending` reply: the broker did not answer in time; the outcome is unknown. */
export function pendingReply(account: string, clientOrderId: string, reason: string): string {
  return JSON.stringify({ type: "pending", account, clientOrderId, reason });
}
