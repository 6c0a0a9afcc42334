/**
 * The order path of one consumed DEALER socket: the strategy's DEALER talks to a ROUTER the
 * runner binds at its ipc endpoint; a JavaScript loop checks each order, stamps the fencing
 * envelope (src/protocol/orders/) and sends it on a DEALER connected to the gateway; gateway
 * replies go back to the strategy. Orders are few, so a JavaScript loop is fast enough, and it
 * is the only place that can rewrite them.
 *
 *   strategy DEALER ─ipc─▶ ROUTER ─[gate, parse, stamp]─▶ DEALER ─tcp─▶ gateway ROUTER
 *                        ◀──────── replies (by clientOrderId) ◀──────────┘
 *
 * Orders the strategies have queued when the loop reads go to the gateway as one message, a frame
 * per order (at most MAX_ORDERS_PER_SEND, and no more than the loop checks within MAX_HOLD_MS
 * of the first): under load, one send carries many orders; when orders come one at a time, each
 * goes alone at once (nothing waits to fill a message).
 *
 * The gate is a flag read for every order and again before each send, so closing the path
 * (standby, self-fencing) takes effect for the next message the loop sends. The flag is not
 * enough on its own: self-fencing flips it from a timer, and a loop with orders ready yields to the
 * event loop only every few hundred messages (zeromq.js ends a run of synchronous reads there), so a main thread that stalled past the lease (GC, CPU
 * starvation, SIGSTOP) in the middle of a backlog goes on reading, stamping and sending the orders
 * queued meanwhile before that timer runs (measured: test/faults/lease-stall.test.ts).
 * So the lease itself is asked too, on the monotonic clock, when each order is read and again
 * right before each send: an order leaves only while the lease has time left (`lease-expired`
 * otherwise). And an order that may have waited in the queue longer than `maxQueueMs`
 * (queue-watch.ts) is refused `queued-too-long`: a stall must not turn old orders into fresh ones
 * (the envelope's time is stamped here, when the order is read).
 *
 * Rate limit at the source: a deployment whose layout sets `limits.ordersPerSecond` has a token
 * bucket (token-bucket.ts); an order that finds it empty is refused `rate-limited` here, before
 * it leaves the node. Only orders about to be forwarded take a token.
 *
 * Checks, in order, when an order is read: one frame and a valid order (`bad-order`), its account
 * (`account-not-allowed`), the gate (`path-closed`), the lease (`lease-expired`), its wait
 * (`queued-too-long`), a gateway routed (`no-gateway`), the rate (`rate-limited`); before each
 * send: the gate, the lease, and a connection that takes it now (`gateway-disconnected`).
 *
 * An order handed to ZeroMQ before the close is out of the runner's hands: it usually leaves within microseconds,
 * but if the gateway is connected and not reading, it can wait in ZeroMQ's queue and the kernel's
 * TCP buffers and arrive seconds later (measured: 3,000 orders arriving 2.6 s after they were
 * stamped). The gateway's checks are what stop it there: the epoch fence, once the account has
 * moved on, and the order's age (`maxOrderAgeMs`, 1 s by default).
 * The upstream DEALER queues only on completed connections (ZMQ_IMMEDIATE) and never waits
 * (send timeout 0): an order that cannot be handed to ZeroMQ now is rejected at once.
 * A gateway move disconnects it from the old address and connects it to the new one; the
 * strategy's socket is not touched. Orders queued to the old gateway at that instant are lost;
 * the strategy hears nothing for them and may resend with the same clientOrderId (the gateway
 * de-duplicates).
 *
 * CURVE: a route that names the gateway's server key makes the upstream DEALER a CURVE client
 * with the runner's key pair. libzmq applies security options to connections made after they
 * are set, so a change of server key (plain ↔ CURVE, or another key) replaces the upstream
 * DEALER with a new one instead of reconfiguring it; replies in flight on the old one are lost
 * as on a gateway move. The strategy's socket is never touched.
 *
 * Size: a strategy's frame over `maxOrderBytes` is refused by libzmq from its header, before it is
 * read (ZMQ_MAXMSGSIZE): the strategy's connection is closed and its DEALER reconnects; the frame
 * is never queued or parsed, and gets no reply (there is no connection left to send one on). The
 * path counts and logs each closed strategy connection (`strategyDisconnects`).
 *
 * Accounts: a deployment spawned with a list of accounts may trade only those; an order for any
 * other is rejected here, before it leaves the node (the gateway's fence is the second check).
 */
import * as zmq from "zeromq";
import { HiveError } from "../../core/hive-error.ts";
import type { MonotonicClock } from "../../core/monotonic-clock.ts";
import type { CurveKeyPair } from "../../core/z85.ts";
import {
  accountRejectReason,
  OrderRejectReason,
  parseOrder,
  queuedTooLongReason,
  rateLimitedReason,
  replyClientOrderId,
  RunnerRejectCode,
  runnerRejectReply,
  stampOrder,
} from "../../protocol/orders/index.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import { QuietInterval } from "../../core/quiet-interval.ts";
import { QueueWatch } from "./queue-watch.ts";
import { REMOTE_RECONNECT } from "./remote-reconnect.ts";
import { REPLY_BYTES_PER_ORDER_BYTE } from "./post-office-options.ts";
import { commonSocketOptions } from "./socket-options.ts";
import { TokenBucket, type OrderRateLimit } from "./token-bucket.ts";

/**
 * ZMTP heartbeats on the connection to the gateway: a connection that goes silent (a partition
 * that drops packets without a reset) is closed after `heartbeatTimeout`, so from then on orders
 * are rejected here as unreachable instead of queueing on a dead TCP connection to arrive late.
 */
export const GATEWAY_HEARTBEAT = {
  heartbeatInterval: 100,
  heartbeatTimeout: 300,
  heartbeatTimeToLive: 1_000,
} as const;

/**
 * Most orders the path sends to the gateway in one message (below the gateway's own limit,
 * MAX_ORDERS_PER_MESSAGE in gateway-loop.ts): the orders the strategies queued meanwhile.
 */
export const MAX_ORDERS_PER_SEND = 256;

/**
 * How long the first order of a message may wait while the orders queued behind it are checked
 * and stamped (each takes some µs): 0.1 ms, so a burst costs its first order no more than that.
 */
export const MAX_HOLD_MS = 0.1;

/** Replies are routed by clientOrderId for this many most recent orders; older ones go to the last sender. */
export const REPLY_ROUTES = 10_000;

/** What an order path needs. */
export interface OrderPathOptions {
  readonly deploymentId: string;
  /** The ipc:// endpoint the strategy connects to. */
  readonly localEndpoint: string;
  readonly epoch: bigint;
  readonly open: boolean;
  /** Accounts its orders may name; empty: no restriction here (the gateway still fences). */
  readonly accounts: readonly string[];
  /** The runner's CURVE key pair, for gateways that run CURVE. */
  readonly curveKeyPair: CurveKeyPair;
  readonly highWaterMark: number;
  /** The largest order frame a strategy may send; a bigger one closes its connection unread. */
  readonly maxOrderBytes: number;
  readonly log: PostOfficeLog;
  /** Names the path in logs, e.g. `dep-1/orders`. */
  readonly label: string;
  /** The wall clock for `sentAtUnixMs`. */
  readonly now: () => number;
  /** The monotonic clock of the lease check, the queue's age and the rate limit. */
  readonly clock: MonotonicClock;
  /**
   * Milliseconds left on the runner's lease, on `clock` (negative or -Infinity: none): an order
   * is read and sent only while it is above zero.
   */
  readonly leaseRemainingMs: () => number;
  /** The longest an order may have waited in the queue before it is read (queue-watch.ts). */
  readonly maxQueueMs: number;
  /** The deployment's rate limit; undefined: none at the runner. */
  readonly rateLimit?: OrderRateLimit;
}

/** Exact counts of an order path. */
export interface OrderPathFigures {
  readonly gateway: string | undefined;
  /** The gateway's CURVE server key when the connection uses CURVE; undefined: plain TCP. */
  readonly curveServerKey: string | undefined;
  readonly open: boolean;
  readonly epoch: bigint;
  /** Orders forwarded to the gateway, and their envelope bytes. */
  readonly forwarded: number;
  readonly forwardedBytes: number;
  /** Orders not forwarded, by reason; each got a reject reply (if the strategy was still there). */
  readonly droppedClosed: number;
  readonly droppedMalformed: number;
  readonly droppedNoGateway: number;
  readonly droppedUnreachable: number;
  /** Orders for an account the deployment may not trade. */
  readonly droppedAccount: number;
  /** Orders the runner failed checking (a bug of ours, logged): rejected `internal`. */
  readonly droppedInternal: number;
  /** Orders above the deployment's rate limit: rejected `rate-limited`. */
  readonly droppedRateLimited: number;
  /** Orders read, or about to be sent, while the lease had no time left: `lease-expired`. */
  readonly droppedLeaseExpired: number;
  /** Orders that may have waited in the queue longer than its bound: `queued-too-long`. */
  readonly droppedQueuedTooLong: number;
  /** Gateway replies passed to the strategy, and their bytes. */
  readonly replies: number;
  readonly replyBytes: number;
  /** Replies (and rejects) that could not be delivered: no strategy peer, or it was gone or full. */
  readonly replyDrops: number;
  /** Connection attempts whose security handshake failed (a CURVE key the gateway refused). */
  readonly handshakeFailures: number;
  /**
   * Strategy connections to the local socket that closed: the strategy closed its socket or
   * exited, or it sent a frame over `maxOrderBytes` (libzmq closes that connection unread).
   */
  readonly strategyDisconnects: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** An order checked and stamped, on its way to the gateway. */
interface Stamped {
  /** The envelope, as sent. */
  readonly frame: Buffer;
  /** The strategy peer that sent it. */
  readonly peer: Buffer;
  readonly clientOrderId: string;
}

/** The DEALER to the gateway, with what is bound to its lifetime. */
interface Upstream {
  readonly socket: zmq.Dealer;
  /** The CURVE server key it was made with; undefined: plain TCP. */
  readonly serverKey: string | undefined;
  /** Endpoints whose connection has completed its handshake, as the monitor reports them. */
  readonly connected: Set<string>;
  /** Its reply loop and monitor; they end when the socket is closed. */
  loops: Promise<void>;
}

/** One order path; see the file comment. */
export class OrderPath {
  readonly #options: OrderPathOptions;
  readonly #local: zmq.Router;
  #upstream: Upstream;
  /** Upstream sockets replaced after a change of server key, until their loops have ended. */
  readonly #retired = new Set<Promise<void>>();
  readonly #localLoop: Promise<void>;
  readonly #localWatch: Promise<void>;
  readonly #figures: Mutable<OrderPathFigures>;
  readonly #accounts: ReadonlySet<string>;
  /** clientOrderId → the strategy peer that sent it, oldest first. */
  readonly #replyRoutes = new Map<string, Buffer>();
  #lastPeer: Buffer | undefined;
  readonly #queue: QueueWatch;
  /** Strategy disconnects: one log line a minute at most (the counter keeps every one). */
  readonly #disconnectLines: QuietInterval;
  readonly #bucket: TokenBucket | undefined;
  /** The reasons of the path's own refusals: fixed for the path, so built once (a flood is refused by the thousand). */
  readonly #reasons: { readonly queuedTooLong: string; readonly rateLimited: string };

  private constructor(options: OrderPathOptions, local: zmq.Router) {
    this.#options = options;
    this.#local = local;
    this.#accounts = new Set(options.accounts);
    this.#figures = {
      gateway: undefined,
      curveServerKey: undefined,
      open: options.open,
      epoch: options.epoch,
      forwarded: 0,
      forwardedBytes: 0,
      droppedClosed: 0,
      droppedMalformed: 0,
      droppedNoGateway: 0,
      droppedUnreachable: 0,
      droppedAccount: 0,
      droppedInternal: 0,
      droppedRateLimited: 0,
      droppedLeaseExpired: 0,
      droppedQueuedTooLong: 0,
      replies: 0,
      replyBytes: 0,
      replyDrops: 0,
      handshakeFailures: 0,
      strategyDisconnects: 0,
    };
    this.#queue = new QueueWatch(options.clock, options.maxQueueMs);
    this.#disconnectLines = new QuietInterval(60_000, () => options.clock.now());
    this.#bucket =
      options.rateLimit === undefined ? undefined : new TokenBucket(options.rateLimit, options.clock.now());
    this.#reasons = {
      queuedTooLong: queuedTooLongReason(options.maxQueueMs),
      rateLimited:
        options.rateLimit === undefined
          ? ""
          : rateLimitedReason(options.rateLimit.ordersPerSecond, options.rateLimit.burst),
    };
    this.#upstream = this.#openUpstream(undefined);
    this.#localLoop = this.#fromStrategy();
    this.#localWatch = this.#watchStrategies();
  }

  /** Binds the local endpoint and starts the loops. */
  static open(options: OrderPathOptions): OrderPath {
    // mandatory: a reply to a peer that is gone fails instead of vanishing, so it is counted.
    const local = new zmq.Router({
      ...commonSocketOptions(options.highWaterMark, options.maxOrderBytes),
      mandatory: true,
      sendTimeout: 0,
    });
    try {
      local.bindSync(options.localEndpoint);
    } catch (err) {
      local.close();
      throw err;
    }
    return new OrderPath(options, local);
  }

  /**
   * Points the upstream DEALER at `gateway` (or at nothing), as a CURVE client of `curveServerKey`
   * when one is given (else plain TCP); the strategy's socket is untouched.
   */
  setGateway(gateway: string | undefined, curveServerKey?: string): void {
    const key = curveServerKey === "" ? undefined : curveServerKey;
    const current = this.#figures.gateway;
    const currentKey = this.#upstream.serverKey;
    if (current === gateway && currentKey === key) return;
    if (key !== currentKey) {
      // Security options bind at connect: a new key needs a new socket (see the file comment).
      const old = this.#upstream;
      this.#upstream = this.#openUpstream(key);
      old.socket.close();
      const retired = old.loops;
      this.#retired.add(retired);
      void retired.finally(() => this.#retired.delete(retired));
      if (gateway !== undefined) this.#upstream.socket.connect(gateway);
    } else {
      if (gateway !== undefined) this.#upstream.socket.connect(gateway);
      if (current !== undefined) this.#upstream.socket.disconnect(current);
    }
    this.#figures.gateway = gateway;
    this.#figures.curveServerKey = key;
    this.#options.log.info(
      { orders: this.#options.label, from: current, to: gateway, curve: key !== undefined },
      "order path rerouted",
    );
  }

  /** Opens or closes the gate; an epoch below the current one is ignored (fencing only moves forward). */
  setOpen(open: boolean, epoch?: bigint): void {
    if (epoch !== undefined) {
      if (epoch < this.#figures.epoch) {
        this.#options.log.warn(
          { orders: this.#options.label, epoch: epoch.toString(), current: this.#figures.epoch.toString() },
          "order path: ignored an epoch lower than the current one",
        );
      } else {
        this.#figures.epoch = epoch;
      }
    }
    this.#figures.open = open;
  }

  /** Whether the upstream DEALER has a completed connection to the gateway now. */
  get connected(): boolean {
    const gateway = this.#figures.gateway;
    return gateway !== undefined && this.#upstream.connected.has(gateway);
  }

  /** A copy of the counts. */
  figures(): OrderPathFigures {
    return { ...this.#figures };
  }

  /** Closes every socket and waits for every loop to end. */
  async close(): Promise<void> {
    this.#queue.close();
    this.#local.close();
    this.#upstream.socket.close();
    await Promise.all([this.#localLoop, this.#localWatch, this.#upstream.loops, ...this.#retired]);
  }

  #openUpstream(serverKey: string | undefined): Upstream {
    const { curveKeyPair } = this.#options;
    const socket = new zmq.Dealer({
      ...commonSocketOptions(
        this.#options.highWaterMark,
        this.#options.maxOrderBytes * REPLY_BYTES_PER_ORDER_BYTE,
      ),
      ...REMOTE_RECONNECT,
      ...GATEWAY_HEARTBEAT,
      immediate: true,
      sendTimeout: 0,
      ...(serverKey === undefined
        ? {}
        : {
            curveServerKey: serverKey,
            curvePublicKey: curveKeyPair.publicKey,
            curveSecretKey: curveKeyPair.secretKey,
          }),
    });
    const upstream: Upstream = { socket, serverKey, connected: new Set(), loops: Promise.resolve() };
    upstream.loops = Promise.all([this.#fromGateway(upstream), this.#watchGateway(upstream)]).then(
      () => undefined,
    );
    return upstream;
  }

  async #fromStrategy(): Promise<void> {
    const local = this.#local;
    const out: Stamped[] = [];
    try {
      while (!local.closed) {
        // Nothing queued now: whatever is read next arrived after this instant (queue-watch.ts).
        if (!local.readable) this.#queue.caughtUp();
        // What the strategies have queued goes to the gateway as one message, a frame per order
        // (the gateway decides them in one batch): one receive and one send for many orders, and
        // no order waits for another that has not come yet.
        let message = await local.receive();
        this.#queue.reading();
        const first = performance.now();
        for (;;) {
          const peer = message[0];
          if (peer !== undefined) {
            const checked = this.#checkGuarded(peer, message);
            if (typeof checked === "string") await this.#reply(peer, checked);
            else out.push(checked);
          }
          if (
            out.length >= MAX_ORDERS_PER_SEND ||
            !local.readable ||
            performance.now() - first >= MAX_HOLD_MS
          )
            break;
          message = await local.receive();
        }
        if (out.length > 0) await this.#forward(out);
        out.length = 0;
      }
    } catch (err) {
      if (!local.closed)
        this.#options.log.error(
          { orders: this.#options.label, err: HiveError.from(err) },
          "order loop failed",
        );
    }
  }

  /**
   * {@link #check}, with a throw (a bug of ours, never the strategy's input) answered as an
   * `internal` reject of that one order and logged: one order that trips a bug must not end the
   * loop, which would leave the deployment unable to trade until it is restarted.
   */
  #checkGuarded(peer: Buffer, message: readonly Buffer[]): Stamped | string {
    try {
      return this.#check(peer, message);
    } catch (err) {
      this.#figures.droppedInternal += 1;
      const e = HiveError.from(err);
      this.#options.log.error({ orders: this.#options.label, err: e }, "checking an order failed; rejected");
      return runnerRejectReply(
        RunnerRejectCode.Internal,
        `the runner failed checking this order (${e.message}); it was not sent`,
      );
    }
  }

  /**
   * Checks one message `[peer, order]` from a strategy: the order stamped with the envelope, to be
   * forwarded, or the reject frame to answer it with (counted here).
   */
  #check(peer: Buffer, message: readonly Buffer[]): Stamped | string {
    const f = this.#figures;
    const frame = message.length === 2 ? message[1] : undefined;
    if (frame === undefined) {
      f.droppedMalformed += 1;
      return runnerRejectReply(RunnerRejectCode.BadOrder, OrderRejectReason.frames);
    }
    const parsed = parseOrder(frame);
    if (!parsed.ok) {
      f.droppedMalformed += 1;
      this.#options.log.warn(
        { orders: this.#options.label, reason: parsed.reason },
        "malformed order rejected",
      );
      return runnerRejectReply(RunnerRejectCode.BadOrder, parsed.reason, parsed.clientOrderId);
    }
    const { order } = parsed;
    // The account first: a strategy naming the wrong one is told so even while it is a standby.
    if (this.#accounts.size > 0 && !this.#accounts.has(order.account)) {
      f.droppedAccount += 1;
      this.#options.log.warn(
        { orders: this.#options.label, account: order.account },
        "order for a foreign account rejected",
      );
      return runnerRejectReply(
        RunnerRejectCode.AccountNotAllowed,
        accountRejectReason(order.account, this.#options.accounts),
        order.clientOrderId,
      );
    }
    if (!f.open) {
      f.droppedClosed += 1;
      return runnerRejectReply(RunnerRejectCode.PathClosed, OrderRejectReason.closed, order.clientOrderId);
    }
    // The lease at the moment the order is read: the gate above is flipped by a timer, which a
    // stalled main thread has not run yet (see the file comment).
    if (!(this.#options.leaseRemainingMs() > 0)) {
      f.droppedLeaseExpired += 1;
      return runnerRejectReply(
        RunnerRejectCode.LeaseExpired,
        OrderRejectReason.leaseExpired,
        order.clientOrderId,
      );
    }
    const now = this.#options.clock.now();
    if (this.#queue.tooOld(now)) {
      f.droppedQueuedTooLong += 1;
      return runnerRejectReply(
        RunnerRejectCode.QueuedTooLong,
        this.#reasons.queuedTooLong,
        order.clientOrderId,
      );
    }
    if (f.gateway === undefined) {
      f.droppedNoGateway += 1;
      return runnerRejectReply(RunnerRejectCode.NoGateway, OrderRejectReason.noGateway, order.clientOrderId);
    }
    const bucket = this.#bucket;
    if (bucket !== undefined && !bucket.take(now)) {
      f.droppedRateLimited += 1;
      return runnerRejectReply(RunnerRejectCode.RateLimited, this.#reasons.rateLimited, order.clientOrderId);
    }
    const envelope = stampOrder(
      order,
      { deploymentId: this.#options.deploymentId, epoch: f.epoch },
      this.#options.now(),
    );
    return { frame: Buffer.from(envelope), peer, clientOrderId: order.clientOrderId };
  }

  /** Sends stamped orders to the gateway as one message; if it cannot leave, each is rejected. */
  async #forward(orders: readonly Stamped[]): Promise<void> {
    const f = this.#figures;
    // The gate once more: it may have closed while the loop awaited a reject's send.
    if (!f.open) {
      f.droppedClosed += orders.length;
      await this.#rejectAll(orders, RunnerRejectCode.PathClosed, OrderRejectReason.closed);
      return;
    }
    // And the lease, at the moment of sending: nothing leaves once it has no time left.
    if (!(this.#options.leaseRemainingMs() > 0)) {
      f.droppedLeaseExpired += orders.length;
      await this.#rejectAll(orders, RunnerRejectCode.LeaseExpired, OrderRejectReason.leaseExpired);
      return;
    }
    const frames: Buffer[] = [];
    let bytes = 0;
    for (const o of orders) {
      this.#remember(o.clientOrderId, o.peer);
      frames.push(o.frame);
      bytes += o.frame.length;
    }
    try {
      await this.#upstream.socket.send(frames);
    } catch {
      // EAGAIN: no completed connection to the gateway (immediate, send timeout 0).
      f.droppedUnreachable += orders.length;
      await this.#rejectAll(orders, RunnerRejectCode.GatewayDisconnected, OrderRejectReason.unreachable);
      return;
    }
    f.forwarded += orders.length;
    f.forwardedBytes += bytes;
  }

  /** Answers each of a message's orders with the same reject (the message did not leave). */
  async #rejectAll(orders: readonly Stamped[], code: RunnerRejectCode, reason: string): Promise<void> {
    for (const o of orders) await this.#reply(o.peer, runnerRejectReply(code, reason, o.clientOrderId));
  }

  async #fromGateway(upstream: Upstream): Promise<void> {
    try {
      // The gateway sends the replies of one batch as one message, a frame per reply: each frame
      // goes to the strategy as a message of its own, routed by its clientOrderId.
      for await (const frames of upstream.socket) {
        for (const frame of frames) {
          const id = replyClientOrderId(frame);
          const peer = (id === undefined ? undefined : this.#replyRoutes.get(id)) ?? this.#lastPeer;
          if (peer === undefined) {
            this.#figures.replyDrops += 1;
            continue;
          }
          if (await this.#reply(peer, frame)) {
            this.#figures.replies += 1;
            this.#figures.replyBytes += frame.length;
          }
        }
      }
    } catch (err) {
      if (!upstream.socket.closed)
        this.#options.log.error(
          { orders: this.#options.label, err: HiveError.from(err) },
          "reply loop failed",
        );
    }
  }

  async #watchGateway(upstream: Upstream): Promise<void> {
    const { connected } = upstream;
    try {
      // The iteration ends when the DEALER is closed.
      for await (const event of upstream.socket.events) {
        if (event.type === "handshake") connected.add(event.address);
        else if (event.type === "disconnect" || event.type === "close") connected.delete(event.address);
        else if (
          event.type === "handshake:error:auth" ||
          event.type === "handshake:error:protocol" ||
          event.type === "handshake:error:other"
        ) {
          this.#figures.handshakeFailures += 1;
          this.#options.log.warn(
            { orders: this.#options.label, gateway: event.address, event: event.type },
            "order path: handshake with the gateway failed (CURVE key not authorized?)",
          );
        }
      }
    } catch (err) {
      this.#options.log.warn(
        { orders: this.#options.label, err: HiveError.from(err) },
        "order path monitor failed",
      );
    }
    connected.clear();
  }

  /** Counts and logs each strategy connection that closes (see the file comment, Size). */
  async #watchStrategies(): Promise<void> {
    try {
      // The iteration ends when the local socket is closed.
      for await (const event of this.#local.events) {
        if (event.type !== "disconnect") continue;
        this.#figures.strategyDisconnects += 1;
        // A strategy reconnecting in a loop (or resending an oversized frame) sets this rate.
        const quiet = this.#disconnectLines.pass("strategy");
        if (quiet === undefined) continue;
        this.#options.log.warn(
          {
            orders: this.#options.label,
            maxOrderBytes: this.#options.maxOrderBytes,
            notLoggedSinceLast: quiet,
          },
          "order path: a strategy connection closed (the strategy closed its socket or exited, or sent a frame over maxOrderBytes, which closes it unread)",
        );
      }
    } catch (err) {
      this.#options.log.warn(
        { orders: this.#options.label, err: HiveError.from(err) },
        "order path: strategy monitor failed",
      );
    }
  }

  /** Sends a frame to a strategy peer; false (and counted) when it is gone or its queue is full. */
  async #reply(peer: Buffer, frame: Buffer | string): Promise<boolean> {
    try {
      await this.#local.send([peer, frame]);
      return true;
    } catch {
      this.#figures.replyDrops += 1;
      return false;
    }
  }

  #remember(clientOrderId: string, peer: Buffer): void {
    this.#lastPeer = peer;
    this.#replyRoutes.delete(clientOrderId);
    this.#replyRoutes.set(clientOrderId, peer);
    if (this.#replyRoutes.size > REPLY_ROUTES) {
      const oldest = this.#replyRoutes.keys().next();
      if (oldest.done !== true) this.#replyRoutes.delete(oldest.value);
    }
  }
}
