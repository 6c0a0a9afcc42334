/**
 * Every reply a strategy reads on its orders socket: one JSON object per frame, with a `type`.
 * The runner answers `reject` itself for an order it did not forward; every other reply comes
 * from the gateway, and the runner passes it on unchanged, routed by its `clientOrderId`.
 *
 *   runner → strategy    {type: "reject", code, reason, clientOrderId?}
 *   gateway → strategy   {type: "ack" | "fill" | "reject" | "duplicate" | "cancelled" | "pending",
 *                         account, clientOrderId, ...}
 *
 * A reader ignores fields and types it does not know (more may come). The builders below write
 * each reply's fields in one object literal, `type` first, as the wire has always had them.
 */
import { utf8 } from "./json-fields.ts";
import type { Side } from "./order.ts";
import type { GatewayRejectCode, RunnerRejectCode } from "./reject-codes.ts";

/** The runner's answer to an order it did not forward. */
export interface RunnerRejectReply {
  readonly type: "reject";
  readonly code: RunnerRejectCode;
  readonly reason: string;
  /** The order's id, when it could be read. */
  readonly clientOrderId?: string;
}

/** The gateway took the order: its broker has it, filled or resting. */
export interface AckReply {
  readonly type: "ack";
  readonly account: string;
  readonly clientOrderId: string;
  readonly deploymentId: string;
  readonly epoch: string;
  readonly status: "filled" | "resting";
}

/** The fields of an execution, as a broker reports it. */
export interface Fill {
  readonly account: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly price: number;
  readonly fillId: string;
}

/** An execution: `qty` of the order traded at `price` (an order may fill in parts). */
export interface FillReply extends Fill {
  readonly type: "fill";
}

/** The gateway did not accept the order. */
export interface GatewayRejectReply {
  readonly type: "reject";
  /** "" only when a malformed frame did not have one. */
  readonly account: string;
  /** "" only when a malformed frame did not have one. */
  readonly clientOrderId: string;
  readonly code: GatewayRejectCode;
  readonly reason: string;
}

/** What a `duplicate` reply says of the original order. */
export type KnownStatus = "filled" | "resting" | "cancelled" | "rejected" | "unknown";

/** The id was seen before on the account; the order was not sent to the broker again. */
export interface DuplicateReply {
  readonly type: "duplicate";
  readonly account: string;
  readonly clientOrderId: string;
  readonly status: KnownStatus;
}

/** A resting order was cancelled (the fence moved, or the kill switch). */
export interface CancelledReply {
  readonly type: "cancelled";
  readonly account: string;
  readonly clientOrderId: string;
  readonly reason: string;
}

/** The broker did not answer in time; the outcome is unknown. */
export interface PendingReply {
  readonly type: "pending";
  readonly account: string;
  readonly clientOrderId: string;
  readonly reason: string;
}

/** Every reply a strategy may read, by `type` (a `reject` from the runner or the gateway). */
export type OrderReply =
  | RunnerRejectReply
  | AckReply
  | FillReply
  | GatewayRejectReply
  | DuplicateReply
  | CancelledReply
  | PendingReply;

/** The runner's `reject` frame; `clientOrderId` when the order had a readable one. */
export function runnerRejectReply(code: RunnerRejectCode, reason: string, clientOrderId?: string): string {
  const reply: RunnerRejectReply =
    clientOrderId === undefined
      ? { type: "reject", code, reason }
      : { type: "reject", code, reason, clientOrderId };
  return JSON.stringify(reply);
}

/** An `ack` frame. */
export function ackReply(
  account: string,
  clientOrderId: string,
  deploymentId: string,
  epoch: string,
  status: "filled" | "resting",
): string {
  return JSON.stringify({
    type: "ack",
    account,
    clientOrderId,
    deploymentId,
    epoch,
    status,
  } satisfies AckReply);
}

/**
 * A `fill` frame: the broker's fill, its fields named one by one (an adapter's extra fields stay
 * out). The gateway also keeps it as the detail of the fill's audit row.
 */
export function fillReply(fill: Fill): string {
  const { account, clientOrderId, symbol, side, qty, price, fillId } = fill;
  return JSON.stringify({
    type: "fill",
    account,
    clientOrderId,
    symbol,
    side,
    qty,
    price,
    fillId,
  } satisfies FillReply);
}

/** The gateway's `reject` frame. */
export function gatewayRejectReply(
  account: string,
  clientOrderId: string,
  code: GatewayRejectCode,
  reason: string,
): string {
  return JSON.stringify({
    type: "reject",
    account,
    clientOrderId,
    code,
    reason,
  } satisfies GatewayRejectReply);
}

/** A `duplicate` frame. */
export function duplicateReply(account: string, clientOrderId: string, status: KnownStatus): string {
  return JSON.stringify({ type: "duplicate", account, clientOrderId, status } satisfies DuplicateReply);
}

/** A `cancelled` frame. */
export function cancelledReply(account: string, clientOrderId: string, reason: string): string {
  return JSON.stringify({ type: "cancelled", account, clientOrderId, reason } satisfies CancelledReply);
}

/** A `pending` frame. */
export function pendingReply(account: string, clientOrderId: string, reason: string): string {
  return JSON.stringify({ type: "pending", account, clientOrderId, reason } satisfies PendingReply);
}

/** The `clientOrderId` of a reply frame, when it is a JSON object that has one (the runner routes by it). */
export function replyClientOrderId(frame: Uint8Array): string | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(frame));
    if (typeof value !== "object" || value === null) return undefined;
    const id = (value as Record<string, unknown>)["clientOrderId"];
    return typeof id === "string" ? id : undefined;
  } catch {
    // Not UTF-8 JSON: no id to route by; the caller sends it to the last sender.
    return undefined;
  }
}
