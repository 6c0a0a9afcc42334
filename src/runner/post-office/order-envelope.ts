/**
 * The order wire formats of DESIGN.md §4, as pure functions: parse what a strategy sends, stamp
 * the fencing envelope the gateway checks, and build the rejects the runner answers with.
 *
 *   strategy → runner   one frame: {account, clientOrderId, symbol, side, qty, type, price?}
 *   runner → gateway    one frame: {deploymentId, epoch, account, clientOrderId, sentAtUnixMs, order}
 *   runner → strategy   one frame: {type: "reject", reason, clientOrderId?} (gateway replies pass as they are)
 *
 * A strategy cannot forge the envelope: the order is rebuilt from the listed fields only, so a
 * `deploymentId` or `epoch` it adds (at the top level or anywhere else) is dropped, and the
 * envelope's fields come from the runner. The epoch is a decimal string, as a JSON number
 * cannot hold every uint64.
 */
import { z } from "zod";
import { describeValue, formatPath } from "../../domain/validation-error.ts";

/** The fields of an order a strategy may set; anything else it sends is dropped. */
const orderSchema = z.object({
  account: z.string().min(1, "a non-empty account"),
  clientOrderId: z
    .string()
    .min(1, "a non-empty clientOrderId")
    .max(128, "a clientOrderId of at most 128 characters"),
  symbol: z.string().min(1, "a non-empty symbol"),
  side: z.enum(["buy", "sell"], "buy or sell"),
  qty: z.number("a number").positive("a quantity above zero").finite("a finite quantity"),
  type: z.enum(["market", "limit"], "market or limit"),
  price: z.number("a number").positive("a price above zero").finite("a finite price").optional(),
});

/** An order as a strategy sends it, after validation. */
export type Order = z.infer<typeof orderSchema>;

/** Who may trade: stamped on every order by the runner, checked by the gateway's fence table. */
export interface FencingToken {
  readonly deploymentId: string;
  readonly epoch: bigint;
}

/** The one frame the runner sends to the gateway for an order. */
export interface OrderEnvelope {
  readonly deploymentId: string;
  /** The fencing epoch as a decimal string. */
  readonly epoch: string;
  readonly account: string;
  readonly clientOrderId: string;
  /** When the runner forwarded it, in milliseconds since the Unix epoch. */
  readonly sentAtUnixMs: number;
  readonly order: Order;
}

/** The reply the runner sends a strategy for an order it did not forward. */
export interface RejectReply {
  readonly type: "reject";
  readonly reason: string;
  /** The order's id, when it could be read. */
  readonly clientOrderId?: string;
}

/** The outcome of reading one order frame. */
export type ParsedOrder =
  | { readonly ok: true; readonly order: Order }
  | { readonly ok: false; readonly reason: string; readonly clientOrderId?: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads one order frame; a malformed one gives the reason, for a reject reply and a log line. */
export function parseOrder(frame: Uint8Array): ParsedOrder {
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
  const parsed = orderSchema.safeParse(value);
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

/** A reject reply frame. */
export function rejectReply(reason: string, clientOrderId?: string): string {
  const reply: RejectReply =
    clientOrderId === undefined ? { type: "reject", reason } : { type: "reject", reason, clientOrderId };
  return JSON.stringify(reply);
}

/** The `clientOrderId` of a gateway reply frame, when it is a JSON object that has one. */
export function replyClientOrderId(frame: Uint8Array): string | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(frame));
    if (typeof value !== "object" || value === null) return undefined;
    const id = (value as Record<string, unknown>)["clientOrderId"];
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}
