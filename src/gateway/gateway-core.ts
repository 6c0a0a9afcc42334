/**
 * The gateway's decisions, synchronous and in one place: the fence check, idempotency, kill
 * switches, risk, the books, and the audit rows that justify each change. It holds the state in
 * memory (loaded from the database at start) and writes every change through GatewayStatements;
 * consumed order ids are the exception: they stay on disk, with a bounded window of recent ones
 * in memory (order-ids.ts).
 *
 * The loop (gateway-loop.ts) calls it only inside one SQLite transaction per batch and sends the
 * replies it leaves in the outbox only after that transaction committed: so nothing is
 * acknowledged that a crash could forget.
 *
 * Per order, in this order (a code names the reject):
 *   malformed → stale-order → fence (not-fenced, fenced, stale-epoch, wrong-node) → duplicate
 *   → killed → order-id-cap → no-price → risk (size, notional, rate, duplicative)
 *   → submit to the broker
 * Each refusal gets a full audit row, up to `auditFullRefusalsPerSecond` per (deployment,
 * account, code) in a second; the rest are counted in one summary row per second
 * (refusal-audit.ts), so a flood of refused orders cannot fill the disk.
 * Which refusals consume the id (docs/gateway.md, "Order of the checks, and which ids are consumed"): those about
 * the order itself (risk-size, risk-notional, risk-duplicative), which the same order would meet
 * again, and everything that reached the broker. Those about the moment do not (stale-order, the
 * fence codes, killed, order-id-cap, no-price, risk-rate): a retry once the condition passed may
 * use the same id. In particular a fenced-out deployment, or another node sending in the name of
 * the one that holds the account, must not be able to spend the ids of the real one.
 *
 * Node keys: a key is admitted (has an orders socket, node-sockets.ts) while a fence entry names
 * it. A fence naming a key asks `nodes.admit` for its socket's port inside the batch; keys no
 * entry names any more are read with `nodeKeys()` after the commit, and their sockets closed. Every
 * id that reached the broker is consumed, whatever happens next, so a replay is answered
 * `duplicate` and never reaches the broker twice.
 */
import type Database from "better-sqlite3";
import type { PositionBook } from "./position-book.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import type { BrokerAdapter, BrokerEvent } from "./broker-adapter.ts";
import { checkFence, decideFence } from "./fence-rules.ts";
import type { GatewayConfig } from "./gateway-config.ts";
import type {
  AccountView,
  FenceEntry,
  FenceResult,
  GatewayStatus,
  OpenOrderView,
} from "./gateway-control.ts";
import {
  FINAL_STATUSES,
  GatewayStatements,
  type OrderRecord,
  type OrderStatus,
} from "./gateway-statements.ts";
import { isZ85Key } from "../core/z85.ts";
import type { OrderPeer } from "./order-peer.ts";
import {
  ackReply,
  cancelledReply,
  duplicateReply,
  fillReply,
  GatewayRejectCode,
  gatewayRejectReply,
  parseEnvelope,
  pendingReply,
  type KnownStatus,
  type OrderEnvelope,
} from "../protocol/orders/index.ts";
import { orderKey } from "./order-key.ts";
import { OrderIds, type ForgottenId } from "./order-ids.ts";
import { RefusalAudit } from "./refusal-audit.ts";
import { RiskChecks } from "./risk-checks.ts";

/** What the core needs. */
export interface GatewayCoreOptions {
  readonly db: Database.Database;
  readonly broker: BrokerAdapter;
  readonly config: GatewayConfig;
  /** Forward orders to the broker without any check, record or audit (benchmarks only). */
  readonly passThrough: boolean;
  readonly log: Logger;
  /** Wall clock, ms since the Unix epoch (audit timestamps, fence entries). */
  readonly now: () => number;
  /** Monotonic clock, ms (risk buckets, broker timeouts). */
  readonly monotonicMs: () => number;
  /** Asks the loop for a batch: a broker event or a timeout arrived outside one. */
  readonly wake: () => void;
  /** Orders sockets per node key; undefined without CURVE, where a fence cannot name a node. */
  readonly nodes?: NodeAdmission;
  /** Recent consumed ids kept in memory (order-ids.ts); the default outside tests. */
  readonly orderIdWindow?: number;
  /** How long start-up may forget expired ids (`#forgetAtStart`); the default outside tests. */
  readonly forgetAtStartMs?: number;
}

/** Opens the orders socket of a node key (node-sockets.ts). */
export interface NodeAdmission {
  /** Makes sure `publicKey` has its orders socket, bound now if it had none; returns its port. */
  admit(publicKey: string): number;
}

/** Counts since start (the `status` op and the metrics). */
export interface CoreCounters {
  accepted: number;
  readonly rejected: Record<string, number>;
  fills: number;
  fenceChanges: number;
  fenceRefusals: number;
  cancels: number;
  pending: number;
  lateAnswers: number;
  unmatchedBrokerEvents: number;
  /** Consumed ids forgotten after the retention period (see `orderIdRetentionDays`). */
  idsForgotten: number;
}

/** See the file comment. */
export class GatewayCore {
  readonly counters: CoreCounters = {
    accepted: 0,
    rejected: {},
    fills: 0,
    fenceChanges: 0,
    fenceRefusals: 0,
    cancels: 0,
    pending: 0,
    lateAnswers: 0,
    idsForgotten: 0,
    unmatchedBrokerEvents: 0,
  };
  /** Replies to send once the batch committed: peers[i] gets frames[i]. */
  readonly outPeers: OrderPeer[] = [];
  readonly outFrames: string[] = [];

  readonly #o: GatewayCoreOptions;
  readonly #sql: GatewayStatements;
  readonly #risk: RiskChecks;
  /** Which refusals get a full audit row, and the summary rows of the rest (refusal-audit.ts). */
  readonly #refusals: RefusalAudit;
  readonly #fences: Map<string, FenceEntry>;
  readonly #kills: Map<string, string>;
  /** Node keys the fence table names, with how many entries name each. */
  readonly #named = new Map<string, number>();
  /** Consumed order ids: on disk, a window of recent ones in memory (order-ids.ts). */
  readonly orderIds: OrderIds;
  readonly #live: Map<string, OrderRecord>;
  readonly #positions: PositionBook;
  readonly #prices = new Map<string, number>();
  readonly #dirtyOrders = new Set<OrderRecord>();
  readonly #awaiting: OrderRecord[] = [];
  /** Broker events that arrived outside a batch, for the next one. */
  #queued: BrokerEvent[] = [];
  #inBatch = false;
  /** The time the orders of the current batch were received. */
  #receivedAtMs = 0;
  /** Ids consumed in the last batch (the forgetting of old ones keeps pace with it). */
  #consumedInBatch = 0;
  /** Wall ms before which no expired id is looked for again (the last look found them all). */
  #nextForgetMs = 0;

  constructor(options: GatewayCoreOptions) {
    this.#o = options;
    this.#sql = new GatewayStatements(options.db);
    const { config } = options;
    this.#risk = new RiskChecks((account) => config.accountLimits.get(account) ?? config.defaultLimits);
    this.orderIds = new OrderIds(options.db, config, options.orderIdWindow);
    this.#forgetAtStart();
    const state = this.#sql.load();
    this.#fences = state.fences;
    this.#kills = state.kills;
    for (const e of this.#fences.values()) this.#name(e.nodeKey, 1);
    this.#live = state.live;
    this.#positions = state.positions;
    this.#refusals = new RefusalAudit(options.db, config.auditFullRefusalsPerSecond, (row) =>
      this.#sql.audit(row),
    );
    this.#inTransaction(() => this.#refusals.recover(this.#o.now()));
    options.broker.onEvent((event) => this.#onBrokerEvent(event));
    this.#inTransaction(() => this.#reconcile());
  }

  // ---- batches ------------------------------------------------------------------------------

  /** Starts a batch (inside the loop's transaction): applies broker events that came meanwhile. */
  beginBatch(): void {
    this.#inBatch = true;
    this.#receivedAtMs = this.#o.now();
    this.#refusals.roll(this.#receivedAtMs);
    this.#forgetExpired();
    const queued = this.#queued;
    if (queued.length > 0) {
      this.#queued = [];
      for (const e of queued) this.#apply(e);
    }
  }

  /**
   * Ends a batch: writes the orders and positions it changed and the open refusal counts; returns
   * the next deadline (monotonic ms): a broker answer due, or the summary rows of the second.
   */
  endBatch(): number | undefined {
    this.#refusals.persist();
    for (const r of this.#dirtyOrders) {
      this.#sql.order(r);
      if (FINAL_STATUSES.has(r.status)) this.#live.delete(orderKey(r.account, r.clientOrderId));
    }
    this.#dirtyOrders.clear();
    for (const [account, symbol, qty] of this.#positions.takeChanged())
      this.#sql.position(account, symbol, qty);
    this.orderIds.flush();
    this.#inBatch = false;
    const broker = this.#awaiting.reduce<number | undefined>(
      (min, r) =>
        r.status === "submitted" && (min === undefined || r.deadlineMs < min) ? r.deadlineMs : min,
      undefined,
    );
    const dueAtMs = this.#refusals.dueAtMs();
    if (dueAtMs === undefined) return broker;
    const summaries = this.#o.monotonicMs() + Math.max(0, dueAtMs - this.#o.now());
    return broker === undefined ? summaries : Math.min(broker, summaries);
  }

  /**
   * Writes the summary rows of the refusals counted in the current second now (at close, in a
   * transaction of its own), so the log of a stopped gateway is whole.
   */
  flushRefusals(): void {
    this.#inTransaction(() => this.#refusals.flush(this.#o.now()));
  }

  /** Refusals counted in summary rows, and summary rows written, since start. */
  get refusalSummaries(): { readonly refusals: number; readonly rows: number } {
    return { refusals: this.#refusals.summarized, rows: this.#refusals.summaryRows };
  }

  /** Whether broker events wait for a batch. */
  get hasQueued(): boolean {
    return this.#queued.length > 0;
  }

  // ---- orders -------------------------------------------------------------------------------

  /** Decides one order frame from `peer`. */
  order(peer: OrderPeer, frame: Buffer): void {
    const text = frame.toString();
    if (this.#o.passThrough) {
      this.#passThrough(peer, text);
      return;
    }
    const parsed = parseEnvelope(text);
    if (!parsed.ok) {
      this.#malformed(peer, text, parsed.account, parsed.clientOrderId, parsed.reason);
      return;
    }
    const e = parsed.envelope;
    const maxAge = this.#o.config.maxOrderAgeMs;
    if (maxAge > 0 && this.#receivedAtMs - e.sentAtUnixMs > maxAge) {
      // Late: held up in a partition or a stalled connection. A decision made that long ago is
      // not traded now; the id is not consumed, so the strategy may send it again.
      const age = this.#receivedAtMs - e.sentAtUnixMs;
      const reason = `the order arrived ${age} ms after its runner sent it (limit ${maxAge} ms): not traded late`;
      this.#refuse(peer, e.account, e.clientOrderId, GatewayRejectCode.StaleOrder, reason, text, e);
      return;
    }
    const fenceCode = checkFence(this.#fences.get(e.account), e.deploymentId, e.epoch, peer.source.nodeKey);
    if (fenceCode !== undefined) {
      this.#refuse(peer, e.account, e.clientOrderId, fenceCode, this.#fenceReason(fenceCode, e), text, e);
      return;
    }
    const k = orderKey(e.account, e.clientOrderId);
    const known = this.#live.get(k)?.status ?? this.orderIds.status(e.account, e.clientOrderId);
    if (known !== undefined) {
      this.#count("duplicate");
      // A replay loop must not fill the disk either: counted like a refusal past the first few.
      if (this.#refusals.admit(e.deploymentId, e.account, "duplicate", e.clientOrderId, this.#receivedAtMs))
        this.#audit("order", "duplicate", "duplicate", e, text);
      this.#send(peer, duplicateReply(e.account, e.clientOrderId, knownStatus(known)));
      return;
    }
    const refusal = this.#check(e);
    if (refusal !== undefined) {
      if (CONSUMING_REFUSALS.has(refusal.code)) {
        const record = this.#consume(e, peer, "rejected");
        if (!this.#o.passThrough) this.#dirtyOrders.add(record);
      }
      this.#refuse(peer, e.account, e.clientOrderId, refusal.code, refusal.reason, text, e);
      return;
    }
    const record = this.#consume(e, peer);
    this.counters.accepted += 1;
    this.#live.set(k, record);
    this.#dirtyOrders.add(record);
    this.#audit("order", "accepted", null, e, text);
    this.#o.broker.submit(e.order);
    if (record.status === "submitted") {
      record.deadlineMs = this.#o.monotonicMs() + this.#o.config.brokerTimeoutMs;
      this.#awaiting.push(record);
    }
  }

  /**
   * Rejects an order frame as malformed for `reason` (the frame itself may be a valid envelope: it
   * came past the message's limit); the reply names its ids when they can be read.
   */
  refuseMalformed(peer: OrderPeer, frame: Buffer, reason: string): void {
    const text = frame.toString();
    const parsed = parseEnvelope(text);
    const ids = parsed.ok ? parsed.envelope : parsed;
    this.#malformed(peer, text, ids.account, ids.clientOrderId, reason);
  }

  /** A malformed reject; the audit keeps the frame's first 2,000 characters. */
  #malformed(peer: OrderPeer, text: string, account: string, clientOrderId: string, reason: string): void {
    const detail = text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
    this.#refuse(peer, account, clientOrderId, GatewayRejectCode.Malformed, reason, detail, undefined);
  }

  /** Records a new id as consumed: its record (written at the end of the batch) and the window. */
  #consume(e: OrderEnvelope, peer: OrderPeer, status: OrderStatus = "submitted"): OrderRecord {
    const record = this.#record(e, peer);
    record.status = status;
    this.orderIds.consume(e.account, e.clientOrderId, e.deploymentId, status);
    this.#consumedInBatch += 1;
    return record;
  }

  /**
   * Kill switch, id cap, price and risk checks of a new id that passed the fence; undefined if
   * the order may go.
   */
  #check(e: OrderEnvelope): { code: GatewayRejectCode; reason: string } | undefined {
    const reason = this.#kills.get(e.account);
    if (reason !== undefined)
      return { code: GatewayRejectCode.Killed, reason: `account ${e.account} is killed: ${reason}` };
    const full = this.orderIds.capRefusal(e.account, e.deploymentId);
    if (full !== undefined) return { code: GatewayRejectCode.OrderIdCap, reason: full };
    const last = this.#prices.get(e.order.symbol) ?? this.#o.broker.lastPrice(e.order.symbol);
    if (e.order.type === "market" && last === undefined)
      return {
        code: GatewayRejectCode.NoPrice,
        reason: `no price for ${e.order.symbol} yet; a market order needs one`,
      };
    return this.#risk.check(e.order, last, this.#o.monotonicMs());
  }

  /** Pass-through: straight to the broker; only what routing the broker's answers back needs. */
  #passThrough(peer: OrderPeer, text: string): void {
    const e = JSON.parse(text) as OrderEnvelope;
    const record = this.#record(e, peer);
    this.#live.set(orderKey(e.account, e.clientOrderId), record);
    this.counters.accepted += 1;
    this.#o.broker.submit(e.order);
    if (FINAL_STATUSES.has(record.status)) this.#live.delete(orderKey(e.account, e.clientOrderId));
  }

  #record(e: OrderEnvelope, peer: OrderPeer): OrderRecord {
    const o = e.order;
    return {
      account: e.account,
      clientOrderId: e.clientOrderId,
      deploymentId: e.deploymentId,
      epoch: e.epoch,
      symbol: o.symbol,
      side: o.side,
      qty: o.qty,
      type: o.type,
      price: o.price,
      status: "submitted",
      filledQty: 0,
      peer,
      deadlineMs: 0,
      consumedAtMs: this.#receivedAtMs,
    };
  }

  /**
   * Forgets final orders whose ids are older than the retention, first thing in a batch, a few at
   * a time: as many as the last batch consumed and 64 more, so the table stays bounded under
   * steady load and no batch pays for a backlog at once (an id kept a little longer is the safe
   * side). When a look finds fewer than it may take, the next waits a second.
   */
  #forgetExpired(): void {
    const retentionMs = this.#o.config.orderIdRetentionMs;
    const consumed = this.#consumedInBatch;
    this.#consumedInBatch = 0;
    const now = this.#receivedAtMs;
    if (retentionMs === 0 || this.#o.passThrough || now < this.#nextForgetMs) return;
    const limit = consumed + 64;
    const forgotten = this.#forgetOlderThan(now - retentionMs, limit);
    if (forgotten.length < limit) this.#nextForgetMs = now + 1_000;
  }

  /**
   * Forgets up to `limit` final orders whose ids were consumed before `beforeMs`, on disk, in the
   * window and counts, and at the broker; returns them.
   */
  #forgetOlderThan(beforeMs: number, limit: number): ForgottenId[] {
    const forgotten = this.#sql.forgetFinal(beforeMs, limit);
    if (forgotten.length === 0) return forgotten;
    this.orderIds.forgotten(forgotten);
    this.#o.broker.forget?.(forgotten);
    this.counters.idsForgotten += forgotten.length;
    return forgotten;
  }

  /**
   * Forgets expired ids before the state is loaded (a gateway that was down for days), 10,000 to
   * a transaction, for at most FORGET_AT_START_MS: a backlog of millions does not hold the
   * start-up (nor one transaction) for minutes; what is left is forgotten by the batches, a few
   * more than they consume each (`#forgetExpired`), an id kept a little longer being the safe side.
   */
  #forgetAtStart(): void {
    const retentionMs = this.#o.config.orderIdRetentionMs;
    if (retentionMs === 0) return;
    const before = this.#o.now() - retentionMs;
    const until = performance.now() + (this.#o.forgetAtStartMs ?? FORGET_AT_START_MS);
    let total = 0;
    let n: number;
    do {
      n = 0;
      this.#inTransaction(() => {
        n = this.#forgetOlderThan(before, 10_000).length;
        this.orderIds.flush();
      });
      total += n;
    } while (n > 0 && performance.now() < until);
    if (total > 0)
      this.#o.log.info(
        { forgotten: total, retentionMs },
        "gateway: forgot consumed order ids past their retention",
      );
  }

  #refuse(
    peer: OrderPeer,
    account: string,
    clientOrderId: string,
    code: GatewayRejectCode,
    reason: string,
    detail: string,
    e: OrderEnvelope | undefined,
  ): void {
    this.#count(code);
    // A malformed frame may have no readable ids: "" is recorded as none. Past the first few of
    // their (deployment, account, code) in a second, refusals are counted, not written in full.
    const deploymentId = e?.deploymentId ?? null;
    if (this.#refusals.admit(deploymentId, account || null, code, clientOrderId || null, this.#receivedAtMs))
      this.#audit(
        "order",
        "rejected",
        code,
        {
          account: account || undefined,
          clientOrderId: clientOrderId || undefined,
          deploymentId: deploymentId ?? undefined,
          epoch: e?.epoch,
        },
        detail,
      );
    this.#send(peer, gatewayRejectReply(account, clientOrderId, code, reason));
  }

  #fenceReason(code: GatewayRejectCode, e: OrderEnvelope): string {
    const entry = this.#fences.get(e.account);
    if (entry === undefined) return `account ${e.account} is not fenced to any deployment`;
    if (code === GatewayRejectCode.Fenced)
      return `account ${e.account} is fenced to another deployment (epoch ${entry.epoch}), not ${e.deploymentId}`;
    if (code === GatewayRejectCode.WrongNode)
      return `account ${e.account} is fenced to ${e.deploymentId} at epoch ${e.epoch} on another node; this connection is not that node's`;
    return `account ${e.account} is fenced to ${e.deploymentId} at epoch ${entry.epoch}, not ${e.epoch}`;
  }

  // ---- broker events ------------------------------------------------------------------------

  #onBrokerEvent(event: BrokerEvent): void {
    if (this.#inBatch) {
      this.#apply(event);
    } else {
      this.#queued.push(event);
      this.#o.wake();
    }
  }

  #apply(event: BrokerEvent): void {
    const k = orderKey(event.account, event.clientOrderId);
    const record = this.#live.get(k);
    if (event.type === "fill") {
      this.#applyFill(event, record);
      return;
    }
    if (record === undefined) {
      this.counters.unmatchedBrokerEvents += 1;
      this.#o.log.warn({ event }, "broker event for an order that is not live at the gateway");
      return;
    }
    const late = record.status === "unknown";
    const record_ = !this.#o.passThrough;
    switch (event.type) {
      case "accepted":
        this.#setStatus(record, record.filledQty >= record.qty ? "filled" : event.status);
        this.#send(
          record.peer,
          ackReply(record.account, record.clientOrderId, record.deploymentId, record.epoch, event.status),
        );
        break;
      case "rejected": {
        const code = event.code === "no-price" ? GatewayRejectCode.NoPrice : GatewayRejectCode.Broker;
        this.#setStatus(record, "rejected");
        this.#count(code);
        if (record_) this.#audit("broker", "rejected", code, record, JSON.stringify(event), null);
        this.#send(record.peer, gatewayRejectReply(record.account, record.clientOrderId, code, event.reason));
        break;
      }
      case "cancelled":
        this.#setStatus(record, "cancelled");
        this.counters.cancels += 1;
        if (record_)
          this.#audit("cancel", "cancelled", null, record, JSON.stringify({ reason: event.reason }), null);
        this.#send(record.peer, cancelledReply(record.account, record.clientOrderId, event.reason));
        break;
    }
    if (late && record_) {
      this.counters.lateAnswers += 1;
      this.#audit("broker", "late-answer", event.type, record, JSON.stringify(event), null);
    }
  }

  #applyFill(fill: Extract<BrokerEvent, { type: "fill" }>, record: OrderRecord | undefined): void {
    this.counters.fills += 1;
    const text = fillReply(fill);
    if (record !== undefined) {
      record.filledQty += fill.qty;
      if (record.filledQty >= record.qty && record.status !== "submitted" && record.status !== "unknown")
        this.#setStatus(record, "filled");
      this.#send(record.peer, text);
      if (this.#o.passThrough && record.status === "filled")
        this.#live.delete(orderKey(fill.account, fill.clientOrderId));
    } else {
      this.counters.unmatchedBrokerEvents += 1;
    }
    if (this.#o.passThrough) return;
    this.#positions.add(fill.account, fill.symbol, fill.side === "buy" ? fill.qty : -fill.qty);
    this.#audit(
      "fill",
      "filled",
      null,
      {
        account: fill.account,
        clientOrderId: fill.clientOrderId,
        deploymentId: record?.deploymentId,
        epoch: record?.epoch,
      },
      text,
      null,
    );
  }

  /** Orders whose broker answer is overdue become `unknown` and get a `pending` reply; returns the next deadline. */
  expire(): number | undefined {
    const now = this.#o.monotonicMs();
    let next: number | undefined;
    let kept = 0;
    for (const r of this.#awaiting) {
      if (r.status !== "submitted") continue;
      if (r.deadlineMs > now) {
        this.#awaiting[kept++] = r;
        next = next === undefined ? r.deadlineMs : Math.min(next, r.deadlineMs);
        continue;
      }
      this.#setStatus(r, "unknown");
      this.counters.pending += 1;
      const reason = `the broker did not answer within ${this.#o.config.brokerTimeoutMs} ms; outcome unknown`;
      this.#audit("broker", "pending", "timeout", r, JSON.stringify({ reason }), null);
      this.#send(r.peer, pendingReply(r.account, r.clientOrderId, reason));
    }
    this.#awaiting.length = kept;
    return next;
  }

  // ---- control ------------------------------------------------------------------------------

  /**
   * Moves an account's fence forward (see fence-rules.ts), cancelling the previous holder's
   * resting orders; a fence naming `nodeKey` admits that key (its orders socket is opened now).
   */
  fence(account: string, deploymentId: string, epoch: bigint, nodeKey: string | null = null): FenceResult {
    if (nodeKey !== null) this.#checkNodeKey(nodeKey);
    const current = this.#fences.get(account) ?? null;
    const decision = decideFence(current, deploymentId, epoch, nodeKey);
    const about = { account, deploymentId, epoch: epoch.toString() };
    const request = JSON.stringify({ deploymentId, epoch: epoch.toString(), nodeKey });
    switch (decision.kind) {
      case "unchanged":
        this.#audit("fence", "unchanged", null, about, request);
        return {
          ok: true,
          previous: decision.current,
          cancelled: 0,
          unchanged: true,
          ordersPort: this.#admit(nodeKey),
          released: null,
        };
      case "refused":
        this.counters.fenceRefusals += 1;
        this.#audit("fence", "refused", "stale-epoch", about, decision.reason);
        return { ok: false, reason: decision.reason, current: decision.current };
      case "rebind": {
        // The same instance, now on the key its node has (a runner restarted with a new key, or
        // a fence from before node binding): nothing else changes, no order is cancelled.
        const entry: FenceEntry = { ...decision.current, nodeKey, fencedAtUnixMs: this.#o.now() };
        const ordersPort = this.#admit(nodeKey);
        this.#setFence(entry);
        this.#audit(
          "fence",
          "rebound",
          null,
          entry,
          JSON.stringify({ from: decision.current.nodeKey, nodeKey }),
        );
        return {
          ok: true,
          previous: decision.current,
          cancelled: 0,
          unchanged: false,
          ordersPort,
          released: this.#released(decision.current),
        };
      }
      case "advance": {
        const entry: FenceEntry = {
          account,
          deploymentId,
          epoch: epoch.toString(),
          nodeKey,
          fencedAtUnixMs: this.#o.now(),
        };
        const ordersPort = this.#admit(nodeKey);
        this.#setFence(entry);
        this.counters.fenceChanges += 1;
        this.#audit("fence", "fenced", null, entry, JSON.stringify({ previous: decision.previous, nodeKey }));
        const cancelled = this.#cancelOrders(
          account,
          (r) => r.deploymentId !== deploymentId || r.epoch !== entry.epoch,
          `fenced: account ${account} moved to ${deploymentId} at epoch ${entry.epoch}`,
        );
        return {
          ok: true,
          previous: decision.previous,
          cancelled,
          unchanged: false,
          ordersPort,
          released: this.#released(decision.previous),
        };
      }
    }
  }

  /** A node key a fence may name: Z85, and only where connections are authenticated (CURVE). */
  #checkNodeKey(nodeKey: string): void {
    if (!isZ85Key(nodeKey))
      throw new HiveError(
        ErrorCode.InvalidArgument,
        "fence: nodeKey: expected a 40-character Z85 public key",
      );
    if (this.#o.nodes === undefined)
      throw new HiveError(
        ErrorCode.InvalidArgument,
        "fence: nodeKey: this gateway runs without CURVE (--insecure), so it cannot tell nodes apart; fence without a node key",
      );
  }

  /** The port of `nodeKey`'s orders socket (opened if it had none); null for no key. */
  #admit(nodeKey: string | null): number | null {
    return nodeKey === null ? null : (this.#o.nodes?.admit(nodeKey) ?? null);
  }

  /** The key `previous` named, if no entry names it now (its socket closes after the commit). */
  #released(previous: FenceEntry | null): string | null {
    const key = previous?.nodeKey ?? null;
    return key !== null && !this.#named.has(key) ? key : null;
  }

  /** Writes an account's entry, keeping the count of entries naming each node key. */
  #setFence(entry: FenceEntry): void {
    this.#sql.fence(entry);
    this.#name(this.#fences.get(entry.account)?.nodeKey ?? null, -1);
    this.#fences.set(entry.account, entry);
    this.#name(entry.nodeKey, 1);
  }

  #name(nodeKey: string | null, delta: number): void {
    if (nodeKey === null) return;
    const n = (this.#named.get(nodeKey) ?? 0) + delta;
    if (n > 0) this.#named.set(nodeKey, n);
    else this.#named.delete(nodeKey);
  }

  /** Turns the kill switch on and cancels the account's resting orders. */
  kill(account: string, reason: string): { cancelled: number } {
    this.#sql.kill(account, reason, this.#o.now());
    this.#kills.set(account, reason);
    this.#audit("kill", "killed", null, { account }, JSON.stringify({ reason }));
    return { cancelled: this.#cancelOrders(account, () => true, `killed: ${reason}`) };
  }

  /** Lifts the kill switch. */
  unkill(account: string): void {
    this.#sql.unkill(account);
    this.#kills.delete(account);
    this.#audit("unkill", "unkilled", null, { account }, null);
  }

  /** The node keys the fence table names: those admitted, each with its orders socket. */
  nodeKeys(): ReadonlySet<string> {
    return new Set(this.#named.keys());
  }

  /** A market price: for market orders' notional, and the broker fills resting orders on it. */
  price(symbol: string, price: number): void {
    this.#prices.set(symbol, price);
    this.#o.broker.onPrice(symbol, price);
  }

  /** Cancels the account's live orders that `which` selects; returns the resting ones asked. */
  #cancelOrders(account: string, which: (r: OrderRecord) => boolean, reason: string): number {
    const chosen = [...this.#live.values()].filter(
      (r) => r.account === account && !FINAL_STATUSES.has(r.status) && which(r),
    );
    let resting = 0;
    for (const r of chosen) {
      if (r.status === "resting") resting += 1;
      this.#o.broker.cancel(r.account, r.clientOrderId, reason);
    }
    return resting;
  }

  // ---- views --------------------------------------------------------------------------------

  /** Every account the gateway knows (fenced, killed, with a position or an open order), or one. */
  accounts(only?: string): AccountView[] {
    const names = new Set<string>([
      ...this.#fences.keys(),
      ...this.#kills.keys(),
      ...this.#positions.accounts(),
    ]);
    for (const r of this.#live.values()) names.add(r.account);
    const open = new Map<string, OpenOrderView[]>();
    for (const r of this.#live.values()) {
      if (r.status !== "resting") continue;
      const list = open.get(r.account) ?? [];
      list.push({
        clientOrderId: r.clientOrderId,
        deploymentId: r.deploymentId,
        epoch: r.epoch,
        symbol: r.symbol,
        side: r.side,
        qty: r.qty,
        price: r.price ?? 0,
      });
      open.set(r.account, list);
    }
    return [...names]
      .filter((a) => only === undefined || a === only)
      .sort()
      .map((account) => ({
        account,
        fence: this.#fences.get(account) ?? null,
        killed: this.#kills.has(account),
        positions: this.#positions.account(account),
        openOrders: open.get(account) ?? [],
      }));
  }

  /** The counters, as the `status` op reports them. */
  status(): GatewayStatus {
    return {
      accepted: this.counters.accepted,
      rejected: { ...this.counters.rejected },
      fills: this.counters.fills,
      accounts: this.accounts().length,
      admittedNodes: this.#named.size,
      orderIdsKept: this.orderIds.retained,
      orderIdsForgotten: this.counters.idsForgotten,
    };
  }

  // ---- restart ------------------------------------------------------------------------------

  /**
   * After a restart, asks the broker about every order not final here: answers may have been
   * lost with the process. An order the broker never received is final as rejected (its id stays
   * consumed); fills the gateway missed are booked.
   */
  #reconcile(): void {
    this.#inBatch = true;
    for (const r of [...this.#live.values()]) {
      const state = this.#o.broker.orderState(r.account, r.clientOrderId);
      if (state === undefined) {
        if (r.status !== "resting") {
          this.#setStatus(r, "rejected");
          this.#audit("broker", "not-received", "reconcile", r, null, null);
        }
        continue;
      }
      if (state.status === r.status) continue;
      this.#audit("broker", "reconciled", state.status, r, JSON.stringify({ was: r.status }), null);
      if (state.status === "filled") for (const f of state.fills) this.#applyFill(f, r);
      this.#setStatus(r, state.status);
    }
    this.endBatch();
    this.#o.broker.beforeCommit();
  }

  /** IMMEDIATE, as the loop's batches (gateway-loop.ts says why). */
  #inTransaction(fn: () => void): void {
    this.#o.db.transaction(fn).immediate();
  }

  // ---- helpers ------------------------------------------------------------------------------

  #setStatus(record: OrderRecord, status: OrderStatus): void {
    record.status = status;
    if (this.#o.passThrough) return;
    this.orderIds.setStatus(record.account, record.clientOrderId, status);
    this.#dirtyOrders.add(record);
  }

  #count(code: string): void {
    this.counters.rejected[code] = (this.counters.rejected[code] ?? 0) + 1;
  }

  #send(peer: OrderPeer | undefined, frame: string): void {
    if (peer === undefined) return;
    this.outPeers.push(peer);
    this.outFrames.push(frame);
  }

  /**
   * Appends an audit row about `about`: an order's envelope or record, or the account (and
   * deployment) of a control request. Rows about orders just received carry their batch's
   * receive time; broker events and reconciliation pass `receivedAtMs: null`.
   */
  #audit(
    kind: string,
    outcome: string,
    code: string | null,
    about: Partial<Pick<OrderEnvelope, "account" | "clientOrderId" | "deploymentId" | "epoch">>,
    detail: string | null,
    receivedAtMs: number | null = this.#receivedAtMs,
  ): void {
    this.#sql.audit({
      kind,
      outcome,
      code,
      account: about.account ?? null,
      clientOrderId: about.clientOrderId ?? null,
      deploymentId: about.deploymentId ?? null,
      epoch: about.epoch ?? null,
      detail,
      receivedAtMs,
      decidedAtMs: this.#o.now(),
    });
  }
}

/**
 * The refusals after which the id is consumed: about the order itself, so the same order would be
 * refused again (a replay is answered `duplicate`, with its status rejected). Every other refusal
 * is about the moment (a kill switch, a rate, a missing price, a full cap) and leaves the id free.
 */
const CONSUMING_REFUSALS: ReadonlySet<GatewayRejectCode> = new Set([
  GatewayRejectCode.RiskSize,
  GatewayRejectCode.RiskNotional,
  GatewayRejectCode.RiskDuplicative,
]);

/** How long a start-up forgets expired ids at most before it serves (the batches do the rest). */
const FORGET_AT_START_MS = 500;

/** What a `duplicate` reply says of an order in `status`. */
function knownStatus(status: OrderStatus): KnownStatus {
  return status === "submitted" ? "unknown" : status;
}
