/**
 * The seam between the gateway and a broker: what the gateway sends (submissions, cancels) and
 * what it hears back (answers, fills, cancels), as with a FIX session's NewOrderSingle and
 * ExecutionReports. The default implementation is the PaperBroker (paper-broker.ts).
 *
 * Ordering rules an adapter keeps:
 * - `submit` and `cancel` are called inside the gateway's batch transaction, after the order's
 *   client order id has been recorded in that same transaction; an adapter that talks to a
 *   remote broker stages its messages and puts them on the wire in `afterCommit()`, so nothing
 *   leaves for an order the gateway could forget in a crash. (The paper broker keeps its state in
 *   the gateway's database and works in the transaction itself: both commit or neither does.)
 * - Every submission gets exactly one answer event, `accepted` or `rejected`, synchronously
 *   during `submit` or later; a `fill` may come before or after it.
 * - An adapter refuses a client order id it has already seen (as an exchange refuses a reused
 *   ClOrdID) and counts such attempts.
 */
import type { Fill, Order } from "../protocol/orders/index.ts";

/** An order as the gateway submits it: the order of the envelope, as the strategy wrote it. */
export type BrokerOrder = Order;

/** The status of an order at the broker. */
export type BrokerOrderStatus = "filled" | "resting" | "cancelled" | "rejected";

/** What a broker tells the gateway. */
export type BrokerEvent =
  /** The answer to a submission: it was taken, and is now filled or resting. */
  | {
      readonly type: "accepted";
      readonly account: string;
      readonly clientOrderId: string;
      readonly status: "filled" | "resting";
    }
  /** The answer to a submission: refused. `code` is "no-price" or the broker's own. */
  | {
      readonly type: "rejected";
      readonly account: string;
      readonly clientOrderId: string;
      readonly code: string;
      readonly reason: string;
    }
  /** An execution (the paper broker fills whole orders: one fill per order). */
  | ({ readonly type: "fill" } & Fill)
  /** A resting order was cancelled. */
  | {
      readonly type: "cancelled";
      readonly account: string;
      readonly clientOrderId: string;
      readonly reason: string;
    };

/** A resting order at the broker: a limit order, so its price is always there. */
export type BrokerOpenOrder = Required<
  Pick<Order, "account" | "clientOrderId" | "symbol" | "side" | "qty" | "price">
>;

/** What a broker knows of one order (for reconciliation after a restart). */
export interface BrokerOrderState {
  readonly status: BrokerOrderStatus;
  readonly fills: readonly Extract<BrokerEvent, { type: "fill" }>[];
}

/** A broker; see the file comment. */
export interface BrokerAdapter {
  /** For logs and `status`. */
  readonly name: string;
  /** Sends an order; its answer comes as an event. */
  submit(order: BrokerOrder): void;
  /** Asks to cancel a resting order; a `cancelled` event follows if it was resting. */
  cancel(account: string, clientOrderId: string, reason: string): void;
  /** A new market price for a symbol (the paper broker fills resting orders on it). */
  onPrice(symbol: string, price: number): void;
  /** The last price the broker knows for a symbol. */
  lastPrice(symbol: string): number | undefined;
  /** Called at the end of every batch, inside its transaction (write what was buffered). */
  beforeCommit(): void;
  /** Called after the gateway's batch transaction committed (put staged messages on the wire). */
  afterCommit(): void;
  /** Registers the one listener of the broker's events. */
  onEvent(listener: (event: BrokerEvent) => void): void;
  /** Net positions per account and symbol, as the broker sees them. */
  positions(account?: string): Record<string, Record<string, number>>;
  /** Resting orders, as the broker sees them. */
  openOrders(account?: string): BrokerOpenOrder[];
  /** What the broker knows of one order, or undefined if it never received it. */
  orderState(account: string, clientOrderId: string): BrokerOrderState | undefined;
  /**
   * The gateway forgot these final orders (their ids are past `orderIdRetentionDays`, so a
   * strategy may use them again); a broker that keeps ids of its own may forget them too. Called
   * inside the batch transaction. Optional: a real broker's adapter has its own rules.
   */
  forget?(orders: readonly { account: string; clientOrderId: string }[]): void;
  /** Stops timers; the database is the gateway's to close. */
  close(): void;
}
