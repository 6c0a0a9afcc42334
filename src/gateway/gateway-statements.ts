/**
 * The gateway core's SQL: prepared once, each a small named function, and the loading of the
 * state a restarted gateway starts from. Every write here runs inside the batch transaction of
 * the gateway loop (gateway-loop.ts), which commits before any reply leaves.
 */
import type Database from "better-sqlite3";
import type { AuditRecord } from "./audit.ts";
import { PositionBook, type Position } from "./position-book.ts";
import type { FenceEntry } from "./gateway-control.ts";
import type { OrderPeer } from "./order-peer.ts";
import type { OrderType, Side } from "../protocol/orders/index.ts";
import { orderKey } from "./order-key.ts";
import type { ForgottenId } from "./order-ids.ts";

/** Where an order is in its life at the gateway. */
export type OrderStatus =
  /** Sent to the broker, no answer yet. */
  | "submitted"
  /** The broker did not answer within the timeout; the outcome is unknown until it does. */
  | "unknown"
  | "resting"
  | "filled"
  | "cancelled"
  | "rejected";

/** The statuses an order does not leave: every other one is live (its outcome still to come). */
export const FINAL_STATUSES: ReadonlySet<OrderStatus> = new Set(["filled", "cancelled", "rejected"]);

/** One order the gateway has seen from the fenced deployment (its id is consumed). */
export interface OrderRecord {
  readonly account: string;
  readonly clientOrderId: string;
  readonly deploymentId: string;
  readonly epoch: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly type: OrderType;
  readonly price: number | undefined;
  status: OrderStatus;
  filledQty: number;
  /** The runner connection to send later replies to; unknown after a restart. */
  peer: OrderPeer | undefined;
  /** Monotonic ms by which the broker must answer (while `submitted`). */
  deadlineMs: number;
  /** When the gateway first saw the id (wall clock, ms): its retention counts from here. */
  readonly consumedAtMs: number;
}

/** One row of the audit log, as written (the database numbers it). */
export type AuditWrite = Omit<AuditRecord, "seq">;

/** The state a gateway starts from. */
export interface LoadedState {
  readonly fences: Map<string, FenceEntry>;
  readonly kills: Map<string, string>;
  /** The orders not yet final (submitted, unknown, resting). */
  readonly live: Map<string, OrderRecord>;
  readonly positions: PositionBook;
}

/** The prepared statements of the core. */
export class GatewayStatements {
  readonly #audit: Database.Statement;
  readonly #order: Database.Statement;
  readonly #position: Database.Statement;
  readonly #fence: Database.Statement;
  readonly #kill: Database.Statement;
  readonly #unkill: Database.Statement;
  readonly #forgetFinal: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.#audit = db.prepare(
      "INSERT INTO audit (kind, outcome, code, account, client_order_id, deployment_id, epoch, detail, received_at_ms, decided_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.#order = db.prepare(
      "INSERT INTO orders (account, client_order_id, status, deployment_id, epoch, symbol, side, qty, type, price, consumed_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (consumed_at_ms, account, client_order_id) DO UPDATE SET status = excluded.status",
    );
    this.#position = db.prepare(
      "INSERT INTO positions (account, symbol, qty) VALUES (?, ?, ?) ON CONFLICT (account, symbol) DO UPDATE SET qty = excluded.qty",
    );
    this.#fence = db.prepare(
      "INSERT INTO fences (account, deployment_id, epoch, fenced_at_ms, node_key) VALUES (?, ?, ?, ?, ?) ON CONFLICT (account) DO UPDATE SET deployment_id = excluded.deployment_id, epoch = excluded.epoch, fenced_at_ms = excluded.fenced_at_ms, node_key = excluded.node_key",
    );
    this.#kill = db.prepare(
      "INSERT INTO kills (account, reason, killed_at_ms) VALUES (?, ?, ?) ON CONFLICT (account) DO UPDATE SET reason = excluded.reason, killed_at_ms = excluded.killed_at_ms",
    );
    this.#unkill = db.prepare("DELETE FROM kills WHERE account = ?");
    this.#forgetFinal = db
      .prepare(
        `DELETE FROM orders WHERE (consumed_at_ms, account, client_order_id) IN (SELECT consumed_at_ms, account, client_order_id FROM orders WHERE consumed_at_ms < ? AND status IN (${[...FINAL_STATUSES].map((f) => `'${f}'`).join(", ")}) LIMIT ?) RETURNING account, client_order_id, deployment_id`,
      )
      .raw();
  }

  /** Appends one audit row. */
  audit(a: AuditWrite): void {
    this.#audit.run(
      a.kind,
      a.outcome,
      a.code,
      a.account,
      a.clientOrderId,
      a.deploymentId,
      a.epoch,
      a.detail,
      a.receivedAtMs,
      a.decidedAtMs,
    );
  }

  /** Writes an order's row (its status, once it exists). */
  order(r: OrderRecord): void {
    this.#order.run(
      r.account,
      r.clientOrderId,
      r.status,
      r.deploymentId,
      r.epoch,
      r.symbol,
      r.side,
      r.qty,
      r.type,
      r.price ?? null,
      r.consumedAtMs,
    );
  }

  /**
   * Forgets up to `limit` final orders (filled, cancelled, rejected) whose ids were consumed
   * before `beforeMs`, and returns them. Orders still live (submitted, unknown, resting) are
   * kept whatever their age.
   */
  forgetFinal(beforeMs: number, limit: number): ForgottenId[] {
    const rows = this.#forgetFinal.all(beforeMs, limit) as [string, string, string][];
    return rows.map(([account, clientOrderId, deploymentId]) => ({ account, clientOrderId, deploymentId }));
  }

  /** Writes a net position. */
  position(account: string, symbol: string, qty: number): void {
    this.#position.run(account, symbol, qty);
  }

  /** Writes a fence entry. */
  fence(e: FenceEntry): void {
    this.#fence.run(e.account, e.deploymentId, e.epoch, e.fencedAtUnixMs, e.nodeKey);
  }

  /** Turns an account's kill switch on. */
  kill(account: string, reason: string, atMs: number): void {
    this.#kill.run(account, reason, atMs);
  }

  /** Turns an account's kill switch off. */
  unkill(account: string): void {
    this.#unkill.run(account);
  }

  /**
   * Reads what a gateway keeps in memory: fences, kills, positions and the live orders (through
   * the partial index `orders_live`), never every consumed id (order-ids.ts looks those up).
   */
  load(): LoadedState {
    const fences = new Map<string, FenceEntry>();
    const fenceRows = this.db
      .prepare("SELECT account, deployment_id, epoch, fenced_at_ms, node_key FROM fences")
      .all() as {
      account: string;
      deployment_id: string;
      epoch: string;
      fenced_at_ms: number;
      node_key: string | null;
    }[];
    for (const r of fenceRows)
      fences.set(r.account, {
        account: r.account,
        deploymentId: r.deployment_id,
        epoch: r.epoch,
        nodeKey: r.node_key,
        fencedAtUnixMs: r.fenced_at_ms,
      });
    const kills = new Map<string, string>();
    for (const r of this.db.prepare("SELECT account, reason FROM kills").all() as {
      account: string;
      reason: string;
    }[])
      kills.set(r.account, r.reason);
    const live = new Map<string, OrderRecord>();
    const rows = this.db
      .prepare(
        "SELECT account, client_order_id, status, deployment_id, epoch, symbol, side, qty, type, price, consumed_at_ms FROM orders WHERE status IN ('submitted', 'unknown', 'resting')",
      )
      .raw()
      .iterate() as IterableIterator<
      [string, string, OrderStatus, string, string, string, Side, number, OrderType, number | null, number]
    >;
    for (const [
      account,
      clientOrderId,
      status,
      deploymentId,
      epoch,
      symbol,
      side,
      qty,
      type,
      price,
      consumedAtMs,
    ] of rows) {
      if (!FINAL_STATUSES.has(status)) {
        live.set(orderKey(account, clientOrderId), {
          account,
          clientOrderId,
          deploymentId,
          epoch,
          symbol,
          side,
          qty,
          type,
          price: price ?? undefined,
          status,
          filledQty: 0,
          peer: undefined,
          deadlineMs: 0,
          consumedAtMs,
        });
      }
    }
    const positions = PositionBook.of(
      this.db.prepare("SELECT account, symbol, qty FROM positions").raw().iterate() as Iterable<Position>,
    );
    return { fences, kills, live, positions };
  }
}
