/**
 * The consumed client order ids of a gateway, bounded in memory: every id lives in the `orders`
 * table (indexed by account and id, gateway-db.ts), and memory holds only
 * - a window of the most recently consumed ids with their status (at most `windowSize` after a
 *   batch; during one it also holds that batch's ids, whose rows are written at its end), so a
 *   retry of a recent order is answered without reading the disk;
 * - how many ids each (account, deployment) retains (the `order_id_counts` table, kept in the
 *   same transactions as the rows), for the caps and the metrics.
 * An id not in the window is looked up with one indexed read. Start-up reads the counts only,
 * never the ids, so it takes the same time whether 10 or 20 million ids are retained.
 *
 * Caps: an account may retain at most `maxOrderIdsPerAccount` ids and a deployment (over every
 * account it trades) `maxOrderIdsPerDeployment`; past either, `capRefusal` names the reason and the
 * core refuses the order with `order-id-cap`, without consuming its id. Ids leave the counts
 * when the retention forgets them.
 *
 * Before this file (issue 17) every id was in one JavaScript Map, loaded whole at start-up: V8
 * throws at 2^24 entries, and the gateway stopped for good after about 16.7 million ids.
 */
import type Database from "better-sqlite3";
import type { OrderStatus } from "./gateway-statements.ts";
import { orderKey } from "./order-key.ts";

/** How many recent ids the window keeps by default (about 8 MB at 64 bytes a key). */
export const DEFAULT_ORDER_ID_WINDOW = 65_536;

/** One id the retention forgot, with the deployment that consumed it (for the counts). */
export interface ForgottenId {
  readonly account: string;
  readonly clientOrderId: string;
  readonly deploymentId: string;
}

/** The caps on retained ids (gateway-config.ts). */
export interface OrderIdCaps {
  readonly maxOrderIdsPerAccount: number;
  readonly maxOrderIdsPerDeployment: number;
}

/** What an id lookup cost, since start (the soak benchmark reads it). */
export interface OrderIdFigures {
  /** Lookups answered by the window. */
  windowHits: number;
  /** Lookups that read the database. */
  dbLookups: number;
}

/** See the file comment. */
export class OrderIds {
  readonly figures: OrderIdFigures = { windowHits: 0, dbLookups: 0 };
  readonly #caps: OrderIdCaps;
  readonly #windowSize: number;
  /** Recently consumed ids → status, oldest first (Map keeps insertion order). */
  readonly #window = new Map<string, OrderStatus>();
  readonly #accounts = new Map<string, number>();
  readonly #deployments = new Map<string, number>();
  /** Changes of the pairs' counts not yet written, by pair key. */
  readonly #deltas = new Map<string, { account: string; deploymentId: string; n: number }>();
  #total = 0;
  readonly #lookup: Database.Statement;
  readonly #addCount: Database.Statement;
  readonly #dropEmpty: Database.Statement;

  constructor(db: Database.Database, caps: OrderIdCaps, windowSize = DEFAULT_ORDER_ID_WINDOW) {
    this.#caps = caps;
    this.#windowSize = windowSize;
    this.#lookup = db
      .prepare("SELECT status FROM orders WHERE account = ? AND client_order_id = ? LIMIT 1")
      .pluck();
    this.#addCount = db.prepare(
      "INSERT INTO order_id_counts (account, deployment_id, n) VALUES (?, ?, ?) ON CONFLICT (account, deployment_id) DO UPDATE SET n = n + excluded.n",
    );
    this.#dropEmpty = db.prepare(
      "DELETE FROM order_id_counts WHERE account = ? AND deployment_id = ? AND n <= 0",
    );
    const counts = db
      .prepare("SELECT account, deployment_id, n FROM order_id_counts")
      .raw()
      .iterate() as IterableIterator<[string, string, number]>;
    for (const [account, deploymentId, n] of counts) this.#count(account, deploymentId, n);
  }

  /** The status of a consumed id, undefined if it is not consumed (or was forgotten). */
  status(account: string, clientOrderId: string): OrderStatus | undefined {
    const recent = this.#window.get(orderKey(account, clientOrderId));
    if (recent !== undefined) {
      this.figures.windowHits += 1;
      return recent;
    }
    this.figures.dbLookups += 1;
    return this.#lookup.get(account, clientOrderId) as OrderStatus | undefined;
  }

  /**
   * Why `deploymentId` may not consume one more id on `account` (a cap is reached), or undefined
   * if it may.
   */
  capRefusal(account: string, deploymentId: string): string | undefined {
    const onAccount = this.#accounts.get(account) ?? 0;
    const { maxOrderIdsPerAccount, maxOrderIdsPerDeployment } = this.#caps;
    if (onAccount >= maxOrderIdsPerAccount)
      return `account ${account} retains ${onAccount} consumed order ids, its cap (maxOrderIdsPerAccount ${maxOrderIdsPerAccount}); new ids are refused until older ones pass their retention`;
    const ofDeployment = this.#deployments.get(deploymentId) ?? 0;
    if (ofDeployment >= maxOrderIdsPerDeployment)
      return `deployment ${deploymentId} retains ${ofDeployment} consumed order ids, its cap (maxOrderIdsPerDeployment ${maxOrderIdsPerDeployment}); new ids are refused until older ones pass their retention`;
    return undefined;
  }

  /** Records a newly consumed id (its row is written by the core at the end of the batch). */
  consume(account: string, clientOrderId: string, deploymentId: string, status: OrderStatus): void {
    this.#window.set(orderKey(account, clientOrderId), status);
    this.#change(account, deploymentId, 1);
  }

  /** A consumed id's new status (the window follows it; the row is the core's to write). */
  setStatus(account: string, clientOrderId: string, status: OrderStatus): void {
    const k = orderKey(account, clientOrderId);
    if (this.#window.has(k)) this.#window.set(k, status);
  }

  /** Ids the retention forgot (their rows are gone): out of the window and the counts. */
  forgotten(ids: readonly ForgottenId[]): void {
    for (const f of ids) {
      this.#window.delete(orderKey(f.account, f.clientOrderId));
      this.#change(f.account, f.deploymentId, -1);
    }
  }

  /**
   * Writes the counts that changed (inside the batch's transaction, with the rows) and trims
   * the window back to its size, oldest first.
   */
  flush(): void {
    for (const d of this.#deltas.values()) {
      if (d.n === 0) continue;
      this.#addCount.run(d.account, d.deploymentId, d.n);
      if (d.n < 0) this.#dropEmpty.run(d.account, d.deploymentId);
    }
    this.#deltas.clear();
    let excess = this.#window.size - this.#windowSize;
    if (excess <= 0) return;
    for (const k of this.#window.keys()) {
      this.#window.delete(k);
      if (--excess === 0) break;
    }
  }

  /** Ids in the window now. */
  get windowed(): number {
    return this.#window.size;
  }

  /** Every retained id. */
  get retained(): number {
    return this.#total;
  }

  /** Retained ids of each account, with the account cap. */
  byAccount(): { readonly counts: ReadonlyMap<string, number>; readonly cap: number } {
    return { counts: this.#accounts, cap: this.#caps.maxOrderIdsPerAccount };
  }

  /** Retained ids of each deployment, with the deployment cap. */
  byDeployment(): { readonly counts: ReadonlyMap<string, number>; readonly cap: number } {
    return { counts: this.#deployments, cap: this.#caps.maxOrderIdsPerDeployment };
  }

  #change(account: string, deploymentId: string, n: number): void {
    const k = orderKey(account, deploymentId);
    const d = this.#deltas.get(k);
    if (d === undefined) this.#deltas.set(k, { account, deploymentId, n });
    else d.n += n;
    this.#count(account, deploymentId, n);
  }

  #count(account: string, deploymentId: string, n: number): void {
    this.#total += n;
    add(this.#accounts, account, n);
    add(this.#deployments, deploymentId, n);
  }
}

/** Adds `n` to `key`'s count, dropping the key at 0 (so the maps hold only what is retained). */
function add(counts: Map<string, number>, key: string, n: number): void {
  const v = (counts.get(key) ?? 0) + n;
  if (v > 0) counts.set(key, v);
  else counts.delete(key);
}
