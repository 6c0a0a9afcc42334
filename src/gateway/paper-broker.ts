/**
 * The paper broker: the default BrokerAdapter, a simulated market good enough to trade against.
 * - A market order fills whole at the symbol's last price, or is rejected "no-price".
 * - A limit order fills at its limit price if it is marketable against the last price (a buy at
 *   or above it, a sell at or below it); otherwise it rests, and fills at its limit price when a
 *   later price crosses it.
 * - A client order id seen before is refused and counted (`duplicateSubmissions`): the gateway's
 *   idempotency should make that count stay 0, and the tests assert it. Ids seen are looked up in
 *   its table (keyed by account and id), not held in memory: their number is bounded by the
 *   disk, not by a JavaScript Set (V8 throws at 2^24 entries), and start-up reads only the resting
 *   orders (through a partial index).
 *
 * Its state (orders, fills, positions) lives in the gateway's database, written inside the
 * gateway's batch transaction, so a restart neither forgets nor re-executes an order. Orders fill
 * whole, so an order's one fill is kept in the order's own row (one write per order); positions
 * are written once per batch (`beforeCommit`). Prices are not persisted: after a restart a market
 * order is "no-price" until the next tick.
 *
 * Fault injection for tests: `delayAnswers(match, ms)` holds the answers (and fills) of matching
 * orders for `ms` while still executing them, as a broker whose reports are late.
 */
import type Database from "better-sqlite3";
import { PositionBook, type Position } from "./position-book.ts";
import type {
  BrokerAdapter,
  BrokerEvent,
  BrokerOpenOrder,
  BrokerOrder,
  BrokerOrderState,
} from "./broker-adapter.ts";
import type { Side } from "../protocol/orders/index.ts";
import { orderKey } from "./order-key.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS paper_orders (
  account TEXT NOT NULL, client_order_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
  qty REAL NOT NULL, type TEXT NOT NULL, price REAL, status TEXT NOT NULL,
  fill_id TEXT, fill_price REAL, filled_at_ms INTEGER,
  PRIMARY KEY (account, client_order_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS paper_orders_resting ON paper_orders (symbol) WHERE status = 'resting';
CREATE TABLE IF NOT EXISTS paper_positions (
  account TEXT NOT NULL, symbol TEXT NOT NULL, qty REAL NOT NULL, PRIMARY KEY (account, symbol)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS paper_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/** Options of the paper broker. */
export interface PaperBrokerOptions {
  /** The wall clock for fill timestamps. */
  readonly now?: () => number;
}

/** The paper broker's counts. */
export interface PaperBrokerFigures {
  readonly orders: number;
  readonly fills: number;
  /** Submissions of a client order id it had already seen; must stay 0. */
  readonly duplicateSubmissions: number;
}

type FillEvent = Extract<BrokerEvent, { type: "fill" }>;
type Resting = BrokerOpenOrder;

/** See the file comment. */
export class PaperBroker implements BrokerAdapter {
  readonly name = "paper";
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #prices = new Map<string, number>();
  /** symbol → key → resting order. */
  readonly #resting = new Map<string, Map<string, Resting>>();
  #positions = new PositionBook();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #sql;
  #listener: (event: BrokerEvent) => void = () => undefined;
  #fillSeq: number;
  /** The fill sequence as last written to paper_meta (it must never go back after a restart). */
  #fillSeqWritten: number;
  #fills = 0;
  #duplicateSubmissions: number;
  #delay: { match: (order: BrokerOrder) => boolean; ms: number } | undefined;
  /** Events held back while a delayed order is being submitted. */
  #held: BrokerEvent[] | undefined;

  constructor(db: Database.Database, options: PaperBrokerOptions = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    db.exec(SCHEMA);
    this.#sql = {
      insertOrder: db.prepare(
        "INSERT INTO paper_orders (account, client_order_id, symbol, side, qty, type, price, status, fill_id, fill_price, filled_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      setStatus: db.prepare("UPDATE paper_orders SET status = ? WHERE account = ? AND client_order_id = ?"),
      setFilled: db.prepare(
        "UPDATE paper_orders SET status = 'filled', fill_id = ?, fill_price = ?, filled_at_ms = ? WHERE account = ? AND client_order_id = ?",
      ),
      setPosition: db.prepare(
        "INSERT INTO paper_positions (account, symbol, qty) VALUES (?, ?, ?) ON CONFLICT (account, symbol) DO UPDATE SET qty = excluded.qty",
      ),
      setMeta: db.prepare(
        "INSERT INTO paper_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
      seen: db.prepare("SELECT 1 FROM paper_orders WHERE account = ? AND client_order_id = ?").pluck(),
      count: db.prepare("SELECT count(*) FROM paper_orders").pluck(),
      orderRow: db.prepare(
        "SELECT status, symbol, side, qty, fill_id, fill_price FROM paper_orders WHERE account = ? AND client_order_id = ?",
      ),
      forgetFinal: db.prepare(
        "DELETE FROM paper_orders WHERE account = ? AND client_order_id = ? AND status != 'resting'",
      ),
    };
    this.#fillSeq = this.#load();
    this.#fillSeqWritten = this.#fillSeq;
    this.#duplicateSubmissions =
      (db.prepare("SELECT value FROM paper_meta WHERE key = 'duplicateSubmissions'").pluck().get() as
        number | undefined) ?? 0;
  }

  /**
   * Loads what survives a restart; returns the fill sequence: the one written, or (a file from
   * before it was written) the number of fills, since no order had been forgotten then.
   */
  #load(): number {
    const resting = this.#db
      .prepare(
        "SELECT account, client_order_id, symbol, side, qty, price FROM paper_orders WHERE status = 'resting'",
      )
      .all() as {
      account: string;
      client_order_id: string;
      symbol: string;
      side: Side;
      qty: number;
      price: number;
    }[];
    for (const r of resting)
      this.#rest({
        account: r.account,
        clientOrderId: r.client_order_id,
        symbol: r.symbol,
        side: r.side,
        qty: r.qty,
        price: r.price,
      });
    this.#positions = PositionBook.of(
      this.#db
        .prepare("SELECT account, symbol, qty FROM paper_positions")
        .raw()
        .iterate() as Iterable<Position>,
    );
    const written = this.#db.prepare("SELECT value FROM paper_meta WHERE key = 'fillSeq'").pluck().get() as
      number | undefined;
    // Counting the fills reads every row: only a file from before fillSeq was written needs it.
    if (written !== undefined) return written;
    return this.#db
      .prepare("SELECT count(*) FROM paper_orders WHERE fill_id IS NOT NULL")
      .pluck()
      .get() as number;
  }

  onEvent(listener: (event: BrokerEvent) => void): void {
    this.#listener = listener;
  }

  submit(order: BrokerOrder): void {
    if (this.#sql.seen.get(order.account, order.clientOrderId) !== undefined) {
      this.#duplicateSubmissions += 1;
      this.#sql.setMeta.run("duplicateSubmissions", this.#duplicateSubmissions);
      this.#listener({
        type: "rejected",
        account: order.account,
        clientOrderId: order.clientOrderId,
        code: "duplicate-client-order-id",
        reason: `client order id ${order.clientOrderId} was already used on account ${order.account}`,
      });
      return;
    }
    const delay = this.#delay?.match(order) === true ? this.#delay.ms : undefined;
    if (delay !== undefined) this.#held = [];
    try {
      this.#atomically(() => this.#execute(order));
    } finally {
      const held = this.#held;
      this.#held = undefined;
      if (delay !== undefined && held !== undefined) this.#later(delay, held);
    }
  }

  /** Writes an order's row: its status, and its one fill if it filled at once. */
  #insert(
    order: BrokerOrder,
    price: number | null,
    status: "rejected" | "resting" | "filled",
    fill?: { readonly id: string; readonly price: number },
  ): void {
    const { account, clientOrderId, symbol, side, qty, type } = order;
    this.#sql.insertOrder.run(
      account,
      clientOrderId,
      symbol,
      side,
      qty,
      type,
      price,
      status,
      fill?.id ?? null,
      fill?.price ?? null,
      fill === undefined ? null : this.#now(),
    );
  }

  #execute(order: BrokerOrder): void {
    const last = this.#prices.get(order.symbol);
    const { account, clientOrderId, symbol, side, qty } = order;
    if (order.type === "market" && last === undefined) {
      this.#insert(order, null, "rejected");
      this.#emit({
        type: "rejected",
        account,
        clientOrderId,
        code: "no-price",
        reason: `no price for ${symbol} yet`,
      });
      return;
    }
    const fillPrice =
      order.type === "market" ? last : marketable(side, order.price, last) ? order.price : undefined;
    if (fillPrice === undefined) {
      const price = order.price ?? 0;
      this.#insert(order, price, "resting");
      this.#rest({ account, clientOrderId, symbol, side, qty, price });
      this.#emit({ type: "accepted", account, clientOrderId, status: "resting" });
      return;
    }
    const fillId = this.#nextFillId();
    this.#insert(order, order.price ?? null, "filled", { id: fillId, price: fillPrice });
    this.#emit({ type: "accepted", account, clientOrderId, status: "filled" });
    this.#fill(account, clientOrderId, symbol, side, qty, fillPrice, fillId);
  }

  cancel(account: string, clientOrderId: string, reason: string): void {
    const key = orderKey(account, clientOrderId);
    for (const book of this.#resting.values()) {
      if (!book.delete(key)) continue;
      this.#atomically(() => this.#sql.setStatus.run("cancelled", account, clientOrderId));
      this.#emit({ type: "cancelled", account, clientOrderId, reason });
      return;
    }
  }

  onPrice(symbol: string, price: number): void {
    this.#prices.set(symbol, price);
    const book = this.#resting.get(symbol);
    if (book === undefined || book.size === 0) return;
    const crossed = [...book.entries()].filter(([, o]) => marketable(o.side, o.price, price));
    if (crossed.length === 0) return;
    this.#atomically(() => {
      for (const [key, o] of crossed) {
        book.delete(key);
        const fillId = this.#nextFillId();
        this.#sql.setFilled.run(fillId, o.price, this.#now(), o.account, o.clientOrderId);
        this.#fill(o.account, o.clientOrderId, o.symbol, o.side, o.qty, o.price, fillId);
      }
    });
  }

  /** Sets a symbol's price, as a market-data tick would (for tests). */
  setPrice(symbol: string, price: number): void {
    this.onPrice(symbol, price);
  }

  lastPrice(symbol: string): number | undefined {
    return this.#prices.get(symbol);
  }

  beforeCommit(): void {
    for (const [account, symbol, qty] of this.#positions.takeChanged())
      this.#sql.setPosition.run(account, symbol, qty);
    if (this.#fillSeq !== this.#fillSeqWritten) {
      this.#sql.setMeta.run("fillSeq", this.#fillSeq);
      this.#fillSeqWritten = this.#fillSeq;
    }
  }

  /** Forgets final orders the gateway forgot: their ids may be used again (see BrokerAdapter). */
  forget(orders: readonly { account: string; clientOrderId: string }[]): void {
    for (const o of orders) {
      // A resting order stays (its row is kept by the statement), and so does its id.
      this.#sql.forgetFinal.run(o.account, o.clientOrderId);
    }
  }

  afterCommit(): void {
    // Nothing is sent anywhere: the paper broker's state committed with the gateway's.
  }

  positions(account?: string): Record<string, Record<string, number>> {
    return this.#positions.snapshot(account);
  }

  openOrders(account?: string): BrokerOpenOrder[] {
    const out: BrokerOpenOrder[] = [];
    for (const book of this.#resting.values())
      for (const o of book.values()) if (account === undefined || o.account === account) out.push(o);
    return out;
  }

  orderState(account: string, clientOrderId: string): BrokerOrderState | undefined {
    const row = this.#sql.orderRow.get(account, clientOrderId) as
      | {
          status: BrokerOrderState["status"];
          symbol: string;
          side: Side;
          qty: number;
          fill_id: string | null;
          fill_price: number | null;
        }
      | undefined;
    if (row === undefined) return undefined;
    const fills: FillEvent[] =
      row.fill_id === null || row.fill_price === null
        ? []
        : [
            {
              type: "fill",
              account,
              clientOrderId,
              symbol: row.symbol,
              side: row.side,
              qty: row.qty,
              price: row.fill_price,
              fillId: row.fill_id,
            },
          ];
    return { status: row.status, fills };
  }

  /** Holds the answers of orders matching `match` for `ms` (they still execute at once). */
  delayAnswers(match: (order: BrokerOrder) => boolean, ms: number): void {
    this.#delay = { match, ms };
  }

  /** Ends `delayAnswers`; answers already held still come at their time. */
  clearDelay(): void {
    this.#delay = undefined;
  }

  /** A copy of the counts (`orders` counts the table's rows: a read of every one, for tests). */
  figures(): PaperBrokerFigures {
    return {
      orders: this.#sql.count.get() as number,
      fills: this.#fills,
      duplicateSubmissions: this.#duplicateSubmissions,
    };
  }

  close(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #fill(
    account: string,
    clientOrderId: string,
    symbol: string,
    side: Side,
    qty: number,
    price: number,
    fillId: string,
  ): void {
    this.#fills += 1;
    this.#positions.add(account, symbol, side === "buy" ? qty : -qty);
    this.#emit({ type: "fill", account, clientOrderId, symbol, side, qty, price, fillId });
  }

  #nextFillId(): string {
    this.#fillSeq += 1;
    return `pf-${this.#fillSeq}`;
  }

  #rest(order: Resting): void {
    let book = this.#resting.get(order.symbol);
    if (book === undefined) {
      book = new Map();
      this.#resting.set(order.symbol, book);
    }
    book.set(orderKey(order.account, order.clientOrderId), order);
  }

  #emit(event: BrokerEvent): void {
    if (this.#held !== undefined) this.#held.push(event);
    else this.#listener(event);
  }

  #later(ms: number, events: BrokerEvent[]): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      for (const e of events) this.#listener(e);
    }, ms);
    this.#timers.add(timer);
  }

  /**
   * Runs writes in the caller's transaction (the gateway's batch, which calls beforeCommit), or in
   * one of its own, positions included, when called on its own (tests).
   */
  #atomically(fn: () => void): void {
    if (this.#db.inTransaction) fn();
    else
      this.#db.transaction(() => {
        fn();
        this.beforeCommit();
      })();
  }
}

/** Whether a limit order on `side` at `limit` trades against the market price `last`. */
function marketable(side: Side, limit: number | undefined, last: number | undefined): boolean {
  if (limit === undefined || last === undefined) return false;
  return side === "buy" ? last <= limit : last >= limit;
}
