/**
 * The gateway's event loop: batches with group commit. Everything that changes state (orders,
 * control requests, prices, broker events, broker timeouts) is applied in a batch:
 *
 *   1. drain every message the orders sockets have ready — the shared one and one per admitted
 *      node (node-sockets.ts), each read by a loop of its own that takes what its socket has
 *      queued (receive() resolves at once while messages are queued; `readable` says whether
 *      more are), up to MAX_BATCH orders per socket, then waits for the batch: so the batch, run
 *      once the readers of this turn of the event loop are done (setImmediate), decides every
 *      node's orders together, and a node that floods gets no more of a batch than its share. A
 *      runner sends the orders it has queued at once as one message, a frame per order
 *      (docs/gateway.md), so one receive may carry many orders;
 *   2. in ONE SQLite transaction: queued broker events, prices, control requests, the orders,
 *      overdue broker answers, then the rows the batch changed;
 *   3. commit (one fsync for the whole batch), then send every reply and control answer (the
 *      replies to one runner as one multipart message, a frame per reply).
 *
 * So a reply never leaves before the state that justifies it is on disk, and the fsync is paid
 * once per batch rather than once per order. A failed transaction is fatal: the in-memory state
 * may be ahead of the database, so the gateway stops (fail-stop) rather than guess.
 */
import type Database from "better-sqlite3";
import type * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import type { BrokerAdapter } from "./broker-adapter.ts";
import { handleControl, type ControlAnswer, type ControlDeps } from "./control-protocol.ts";
import type { GatewayCore } from "./gateway-core.ts";
import type { OrderPeer, OrderSource } from "./order-peer.ts";

/**
 * Most orders one socket brings to one batch (and its transaction); its reader stops after the
 * message that reaches it.
 */
export const MAX_BATCH = 2048;

/** Most orders one message may carry; the frames beyond are rejected as malformed. */
export const MAX_ORDERS_PER_MESSAGE = 1024;

/** What the loop needs. */
export interface GatewayLoopOptions {
  readonly db: Database.Database;
  readonly core: GatewayCore;
  readonly broker: BrokerAdapter;
  /** The orders sockets at start; more are added with `read` (a node admitted later). */
  readonly orders: readonly RouterSource[];
  readonly control: zmq.Router;
  readonly controlDeps: Omit<ControlDeps, "core">;
  readonly log: Logger;
  /** Called after every batch with its number of orders and its duration (commit included). */
  readonly onBatch?: (orders: number, seconds: number) => void;
  /** Called once if a batch fails; the gateway must stop. */
  readonly onFatal: (err: HiveError) => void;
  /**
   * Called after the commit of a batch that applied control requests, before their answers are
   * sent (the gateway closes the sockets of node keys no fence names any more).
   */
  readonly afterControl?: () => void;
}

/** An orders socket the loop reads. */
export interface RouterSource extends OrderSource {
  readonly socket: zmq.Router;
}

/** One message read, with the socket it came from. */
interface Incoming {
  readonly source: OrderSource;
  readonly frames: Buffer[];
}

const noop = (): void => undefined;

/** See the file comment. */
export class GatewayLoop {
  readonly #o: GatewayLoopOptions;
  readonly #loops = new Set<Promise<void>>();
  /** Messages read since the last batch, and their orders. */
  #incoming: Incoming[] = [];
  #incomingOrders = 0;
  /** Resolves the readers waiting for the next batch. */
  #batchDone: { promise: Promise<void>; resolve: () => void } | undefined;
  #controlQueue: { peer: Buffer; frame: Buffer }[] = [];
  #prices = new Map<string, number>();
  #scheduled: NodeJS.Immediate | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #deadlineAt = Number.POSITIVE_INFINITY;
  #failed = false;
  #closed = false;
  /** Replies that could not be sent (peer gone or its queue full). */
  replyDrops = 0;
  /** Control answers that could not be sent (the client gone or its queue full). */
  controlReplyDrops = 0;

  constructor(options: GatewayLoopOptions) {
    this.#o = options;
    this.#track(this.#readControl());
    for (const source of options.orders) this.read(source);
  }

  /** Starts reading one more orders socket (until it is closed). */
  read(source: RouterSource): void {
    if (!this.#closed) this.#track(this.#readOrders(source));
  }

  #track(loop: Promise<void>): void {
    this.#loops.add(loop);
    void loop.finally(() => this.#loops.delete(loop));
  }

  /** Asks for a batch soon (a broker event, a price or a timeout is waiting). */
  wake(): void {
    if (this.#scheduled !== undefined || this.#closed) return;
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined;
      this.#batch();
    });
  }

  /** Queues a market price for the next batch (the latest per symbol wins). */
  price(symbol: string, price: number): void {
    this.#prices.set(symbol, price);
    this.wake();
  }

  /** Stops reading; the caller closes the sockets, then awaits this. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    clearTimeout(this.#deadlineTimer);
    this.#releaseReaders();
    while (this.#loops.size > 0) await Promise.all([...this.#loops]);
  }

  /** Reads one orders socket: what it has queued (up to MAX_BATCH orders), then waits for the batch. */
  async #readOrders(source: RouterSource): Promise<void> {
    const { socket } = source;
    try {
      while (!this.#closed) {
        let message = await socket.receive();
        this.#incoming.push({ source, frames: message });
        let count = message.length - 1;
        while (socket.readable && count < MAX_BATCH) {
          message = await socket.receive();
          this.#incoming.push({ source, frames: message });
          count += message.length - 1;
        }
        this.#incomingOrders += count;
        await this.#nextBatch();
      }
    } catch (err) {
      // A node's socket closed on revocation ends its reader; so does the gateway's close.
      if (!socket.closed && !this.#closed) this.#fail(HiveError.from(err), "orders loop failed");
    }
  }

  /** Asks for a batch and resolves once it has run. */
  #nextBatch(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#batchDone === undefined) {
      let resolve = noop;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#batchDone = { promise, resolve };
    }
    this.wake();
    return this.#batchDone.promise;
  }

  #releaseReaders(): void {
    const done = this.#batchDone;
    this.#batchDone = undefined;
    done?.resolve();
  }

  async #readControl(): Promise<void> {
    const { control } = this.#o;
    try {
      for await (const [peer, frame] of control) {
        if (peer === undefined || frame === undefined) continue;
        this.#controlQueue.push({ peer, frame });
        this.wake();
      }
    } catch (err) {
      if (!control.closed) this.#fail(HiveError.from(err), "control loop failed");
    }
  }

  /** Runs one batch: the messages read since the last one, control requests, prices, broker events. */
  #batch(): void {
    const orders = this.#incoming;
    const count = this.#incomingOrders;
    this.#incoming = [];
    this.#incomingOrders = 0;
    // The readers read again once this batch has decided what they brought.
    const readers = this.#batchDone;
    this.#batchDone = undefined;
    try {
      this.#runBatch(orders, count);
    } finally {
      readers?.resolve();
    }
  }

  #runBatch(orders: readonly Incoming[], count: number): void {
    if (this.#failed || this.#closed) return;
    const { core, db } = this.#o;
    const started = performance.now();
    const control = this.#controlQueue;
    this.#controlQueue = [];
    const prices = this.#prices;
    if (prices.size > 0) this.#prices = new Map();
    const answers: ControlAnswer[] = [];
    let deadline: number | undefined;
    try {
      // IMMEDIATE: the write lock is taken at BEGIN, where the busy timeout applies. A deferred
      // transaction whose first statement reads (an `audit` op) would instead upgrade to a write
      // later, and an upgrade that meets the WAL checkpointer's RESTART holding the lock fails at
      // once with SQLITE_BUSY, which would stop the gateway (fail-stop).
      db.transaction(() => {
        core.beginBatch();
        for (const [symbol, price] of prices) core.price(symbol, price);
        const deps = { ...this.#o.controlDeps, core };
        for (const c of control) answers.push(handleControl(c.frame, deps));
        for (const { source, frames } of orders) {
          const id = frames[0];
          if (id === undefined) continue;
          const peer: OrderPeer = { source, id };
          const n = frames.length;
          for (let i = 1; i < n && i <= MAX_ORDERS_PER_MESSAGE; i++) core.order(peer, frames[i] as Buffer);
          for (let i = MAX_ORDERS_PER_MESSAGE + 1; i < n; i++)
            core.refuseMalformed(
              peer,
              frames[i] as Buffer,
              `a message may carry at most ${MAX_ORDERS_PER_MESSAGE} orders; this one was frame ${i}`,
            );
        }
        core.expire();
        deadline = core.endBatch();
        this.#o.broker.beforeCommit();
      }).immediate();
    } catch (err) {
      this.#fail(
        HiveError.from(err),
        "batch transaction failed; stopping (state on disk is the last commit)",
      );
      return;
    }
    this.#o.broker.afterCommit();
    this.#sendReplies();
    if (control.length > 0) this.#o.afterControl?.();
    for (const [i, answer] of answers.entries()) {
      const peer = control[i]?.peer;
      if (peer !== undefined)
        this.#o.control.send([peer, JSON.stringify(answer)]).catch((err: unknown) => {
          // The client is gone or its queue is full; its call times out on its side.
          this.controlReplyDrops += 1;
          this.#o.log.warn(
            { err: HiveError.from(err), id: answer.id },
            "gateway: could not send a control answer",
          );
        });
    }
    if (deadline !== undefined) this.#armDeadline(deadline);
    this.#o.onBatch?.(count, (performance.now() - started) / 1000);
    if (core.hasQueued) this.wake();
  }

  /**
   * Sends the batch's replies: all those for one runner as ONE multipart message, one frame per
   * reply, in order (the runner hands each frame to its strategy as a message of its own). One
   * send per runner per batch instead of two per order is most of what the sockets cost.
   */
  #sendReplies(): void {
    const { core } = this.#o;
    const peers = core.outPeers;
    const frames = core.outFrames;
    // By socket, then by routing id (ids are per socket, order-peer.ts).
    const bySource = new Map<OrderSource, Map<string, { peer: OrderPeer; frames: string[] }>>();
    // The replies to one message come one after another with the same peer object: only a change
    // of peer costs a lookup.
    let last: { peer: OrderPeer; frames: string[] } | undefined;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i] as OrderPeer;
      const frame = frames[i] as string;
      if (last?.peer === peer) {
        last.frames.push(frame);
        continue;
      }
      let byPeer = bySource.get(peer.source);
      if (byPeer === undefined)
        bySource.set(peer.source, (byPeer = new Map<string, { peer: OrderPeer; frames: string[] }>()));
      const key = peer.id.toString("latin1");
      last = byPeer.get(key);
      if (last === undefined) byPeer.set(key, (last = { peer, frames: [] }));
      last.frames.push(frame);
    }
    for (const [source, byPeer] of bySource) {
      for (const { peer, frames: replies } of byPeer.values()) {
        // sendTimeout 0: a send completes (or fails) synchronously, so they need not be awaited.
        // A socket closed meanwhile (its node no longer admitted) fails too: counted as dropped.
        const dropped = () => {
          this.replyDrops += replies.length;
        };
        try {
          source.socket.send([peer.id, ...replies]).catch(dropped);
        } catch {
          dropped();
        }
      }
    }
    peers.length = 0;
    frames.length = 0;
  }

  /** Schedules a batch at the earliest broker deadline (monotonic ms). */
  #armDeadline(at: number): void {
    if (at >= this.#deadlineAt) return;
    clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = setTimeout(
      () => {
        this.#deadlineAt = Number.POSITIVE_INFINITY;
        this.#deadlineTimer = undefined;
        this.wake();
      },
      Math.max(0, at - performance.now()) + 1,
    );
  }

  #fail(err: HiveError, what: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#o.log.fatal({ err }, `gateway: ${what}`);
    this.#o.onFatal(new HiveError(ErrorCode.Internal, `gateway: ${what}: ${err.message}`, { cause: err }));
  }
}
