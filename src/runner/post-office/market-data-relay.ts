/**
 * The market-data relay of one consumed SUB socket: the strategy's SUB connects to a local ipc
 * endpoint that the relay listens on as a ZeroMQ PUB, and the relay subscribes, as a ZeroMQ SUB,
 * to whichever remote publishers the route names.
 *
 *   feeder PUB ──tcp──▶ ┐
 *   feeder PUB ──tcp──▶ ┴ relay (one thread, ZMTP both ways) ──ipc──▶ strategy SUB
 *
 * Why a relay that speaks ZMTP rather than a ZeroMQ proxy: a message crosses one thread here,
 * where a native proxy costs two (libzmq's I/O thread, then the proxy's) and a proxy that can
 * change its remotes without closing the strategy's socket costs four; on a loaded 2-core machine
 * each hand-off between threads is tens of microseconds (docs/benchmarks.md). ZMTP frames the
 * same way on TCP and ipc, so the relay writes what the feeder sent as it is, a read's worth of
 * whole messages at a time, without a copy.
 *
 * Route changes never touch the strategy's connection. A remote added starts a link (relay-
 * link.ts); a remote removed keeps delivering until every link of the route has delivered a
 * message, and then for one more read (what it had sent before that moment, still in its socket
 * buffer), or for {@link RETIRE_AFTER_MS} at most; then it stops and a message of it half read is
 * dropped. Make before break: a strategy moved from A to B sees A's messages until B's flow, the
 * two interleaved for a read or two. Each message a remote sends is delivered once; but when A
 * and B are replicas of one feed, the ticks of that overlap come from both, so a strategy sees
 * some twice (never one missing): their per-feeder sequence numbers tell. A remote that stays in
 * the route is never touched.
 *
 * Subscriptions: each strategy connection's topics (relay-session.ts) are merged into one set,
 * which every link subscribes to; a topic is cancelled upstream when no connection holds it.
 * A strategy's SUB filters what it receives itself, so a second connection with other topics is
 * sent the whole set's messages and keeps what it subscribed to, as ZeroMQ's own SUB does.
 *
 * Counters are kept in a Float64Array the owner gives, so that another thread can read them while
 * this one runs: messages and bytes written to the strategy (once each, however many connections
 * it has), and drops, counted per strategy connection that did not get a message (its queue at
 * the high-water mark), or once when no connection was there to get it.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { lstatSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { PostOfficeLog } from "./post-office-log.ts";
import { RelayLink } from "./relay-link.ts";
import { RelaySession } from "./relay-session.ts";

/** How long a removed remote may go on delivering while the route's new links come up. */
export const RETIRE_AFTER_MS = 1000;
/** How long a removed remote is waited for to deliver its last read once the route's links flow. */
export const RETIRE_DRAIN_MS = 50;

/** Indices of a relay's counters. */
export const RelayCounter = {
  /** Messages written to the strategy (once each, however many connections it has). */
  Messages: 0,
  /** Frame body bytes of those messages. */
  Bytes: 1,
  /** Messages a strategy connection did not get (its queue at the high-water mark), or nobody got (none connected). */
  Drops: 2,
  /** Links to remotes that are up now. */
  ConnectedRemotes: 3,
} as const;
/** The length of a relay's counters array. */
export const RELAY_COUNTERS = 4;

/** What a relay needs. */
export interface MarketDataRelayOptions {
  /** The Unix socket path of the local endpoint. */
  readonly path: string;
  readonly highWaterMark: number;
  /** The largest frame, and message, a feeder may send: a bigger one closes its connection. */
  readonly limits: MarketDataLimits;
  /** Names the relay in logs, e.g. `dep-1/market_data`. */
  readonly label: string;
  readonly log: PostOfficeLog;
  /** Where the relay keeps its counts, {@link RELAY_COUNTERS} long, indexed by {@link RelayCounter}. */
  readonly counters: Float64Array;
}

/** The largest frame and message a feeder may send (post-office-options.ts fills them in). */
export interface MarketDataLimits {
  readonly maxFrameBytes: number;
  readonly maxMessageBytes: number;
}

/**
 * The largest frame a strategy's SUB may send its relay: it sends only its greeting, READY and
 * (un)subscriptions, each a topic prefix. 64 KiB is far above any topic, and bounds what a
 * strategy can make the runner buffer.
 */
export const MAX_SUBSCRIPTION_FRAME_BYTES = 64 * 1024;
/** Time for a peer to finish its greeting and READY. */
const HANDSHAKE_MS = 10_000;

/** See the file comment. */
export class MarketDataRelay {
  readonly #o: MarketDataRelayOptions;
  readonly #server: Server;
  readonly #sessions = new Set<RelaySession>();
  /** Every strategy connection's topics, by key (latin1), with the number of connections holding each. */
  readonly #topics = new Map<string, { topic: Buffer; holders: number }>();
  /** Links of the route, in route order. */
  #links = new Map<string, RelayLink>();
  /**
   * Links of removed remotes, still delivering until the route's links flow, with when they stop
   * at the latest (monotonic ms) and whether they stop after their next delivery (draining).
   */
  readonly #retiring = new Map<string, { link: RelayLink; deadline: number; draining: boolean }>();
  #retireTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: MarketDataRelayOptions, server: Server) {
    this.#o = options;
    this.#server = server;
    // The counters may be a reopened relay's: nothing is connected yet.
    options.counters[RelayCounter.ConnectedRemotes] = 0;
    server.on("connection", (socket) => this.#accept(socket));
    // After listening, an error is a failed accept (out of file descriptors, say): the strategy's
    // SUB retries by itself; the relay goes on serving the connections it has.
    server.on("error", (err) =>
      options.log.error({ route: options.label, err: err.message }, "market-data relay: accept failed"),
    );
  }

  /**
   * Listens on the local endpoint, replacing a stale socket file there (as libzmq's bind does);
   * rejects when the path holds anything else or cannot be bound.
   */
  static async open(options: MarketDataRelayOptions): Promise<MarketDataRelay> {
    removeStaleSocket(options.path);
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new MarketDataRelay(options, server);
  }

  /** Strategy connections whose handshake is done. */
  get sessions(): number {
    let n = 0;
    for (const s of this.#sessions) if (s.open) n++;
    return n;
  }

  /**
   * Routes to exactly `remotes` (deduplicated, in order): new remotes get a link, removed ones
   * retire (see the file comment), the others are left alone. Throws a plain Error, changing
   * nothing, for an address that is neither `tcp://host:port` nor `ipc://path`.
   */
  setRemotes(remotes: readonly string[]): void {
    if (this.#closed) return;
    const next = [...new Set(remotes)];
    const links = new Map<string, RelayLink>();
    const created: RelayLink[] = [];
    try {
      for (const remote of next) {
        const link = this.#links.get(remote) ?? this.#retiring.get(remote)?.link;
        if (link !== undefined) links.set(remote, link);
        else {
          const fresh = this.#link(remote);
          created.push(fresh);
          links.set(remote, fresh);
        }
      }
    } catch (err) {
      for (const link of created) link.stop();
      throw err;
    }
    for (const remote of next) this.#retiring.delete(remote);
    const deadline = performance.now() + RETIRE_AFTER_MS;
    for (const [remote, link] of this.#links)
      if (!links.has(remote)) this.#retiring.set(remote, { link, deadline, draining: false });
    this.#links = links;
    this.#countConnected();
    this.#settleRetiring();
  }

  /** Stops listening, closes every link and strategy connection, and removes the socket file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retireTimer);
    for (const link of this.#links.values()) link.stop();
    for (const { link } of this.#retiring.values()) link.stop();
    this.#links.clear();
    this.#retiring.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions) session.close();
    await closed;
    this.#o.counters[RelayCounter.ConnectedRemotes] = 0;
  }

  #link(remote: string): RelayLink {
    return new RelayLink({
      remote,
      label: this.#o.label,
      log: this.#o.log,
      maxFrameBytes: this.#o.limits.maxFrameBytes,
      maxMessageBytes: this.#o.limits.maxMessageBytes,
      handshakeTimeoutMs: HANDSHAKE_MS,
      topics: () => [...this.#topics.values()].map((t) => t.topic),
      deliver: (views, messages, bytes) => this.#deliver(remote, views, messages, bytes),
      onOpenChange: () => this.#countConnected(),
      // A link of the route flows: the retiring ones may drain.
      onFlowing: () => this.#settleRetiring(),
    });
  }

  /**
   * Once every link of the route has delivered a message, each retiring link drains: it stops
   * after its next delivery, or {@link RETIRE_DRAIN_MS} later if it has nothing more. Any link
   * stops at its deadline.
   */
  #settleRetiring(): void {
    if (this.#retiring.size === 0) return;
    clearTimeout(this.#retireTimer);
    this.#retireTimer = undefined;
    const now = performance.now();
    const allFlowing = [...this.#links.values()].every((l) => l.flowing);
    let next = Number.POSITIVE_INFINITY;
    for (const [remote, entry] of this.#retiring) {
      if (allFlowing && !entry.draining) {
        entry.draining = true;
        entry.deadline = Math.min(entry.deadline, now + RETIRE_DRAIN_MS);
      }
      if (entry.deadline <= now) this.#retire(remote);
      else next = Math.min(next, entry.deadline);
    }
    if (next !== Number.POSITIVE_INFINITY)
      this.#retireTimer = setTimeout(() => this.#settleRetiring(), Math.max(0, next - now) + 1);
  }

  #retire(remote: string): void {
    this.#retiring.get(remote)?.link.stop();
    this.#retiring.delete(remote);
    this.#countConnected();
  }

  #countConnected(): void {
    let n = 0;
    for (const link of this.#links.values()) if (link.state === "open") n++;
    this.#o.counters[RelayCounter.ConnectedRemotes] = n;
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const session = new RelaySession(socket, {
      highWaterMark: this.#o.highWaterMark,
      maxFrameBytes: MAX_SUBSCRIPTION_FRAME_BYTES,
      handshakeTimeoutMs: HANDSHAKE_MS,
      onSubscription: (subscribe, topic) => this.#subscription(subscribe, topic),
      onClose: (s, reason) => {
        this.#sessions.delete(s);
        if (reason !== undefined && !this.#closed)
          this.#o.log.warn(
            { route: this.#o.label, reason },
            "market-data relay: a strategy connection failed",
          );
      },
    });
    this.#sessions.add(session);
  }

  #subscription(subscribe: boolean, topic: Buffer): void {
    const key = topic.toString("latin1");
    const entry = this.#topics.get(key);
    if (subscribe) {
      if (entry !== undefined) {
        entry.holders += 1;
        return;
      }
      this.#topics.set(key, { topic, holders: 1 });
    } else {
      if (entry === undefined) return;
      if (--entry.holders > 0) return;
      this.#topics.delete(key);
    }
    for (const link of this.#links.values()) link.subscribe(subscribe, topic);
    for (const { link } of this.#retiring.values()) link.subscribe(subscribe, topic);
  }

  #deliver(remote: string, views: Buffer[], messages: number, bytes: number): void {
    if (this.#retiring.size > 0) {
      const retiring = this.#retiring.get(remote);
      // A draining link's last read goes out, then the link stops (unless the route took it back).
      if (retiring?.draining === true)
        queueMicrotask(() => {
          if (this.#retiring.get(remote) === retiring) this.#retire(remote);
        });
    }
    const counters = this.#o.counters;
    let open = 0;
    let dropped = 0;
    for (const session of this.#sessions) {
      if (!session.open) continue;
      open += 1;
      if (!session.write(views, messages)) dropped += messages;
    }
    // Written once however many connections took it; dropped per connection that did not, or
    // once when none was there.
    if (open === 0) dropped = messages;
    else if (dropped < open * messages) {
      counters[RelayCounter.Messages] = (counters[RelayCounter.Messages] as number) + messages;
      counters[RelayCounter.Bytes] = (counters[RelayCounter.Bytes] as number) + bytes;
    }
    if (dropped > 0) counters[RelayCounter.Drops] = (counters[RelayCounter.Drops] as number) + dropped;
  }
}

/** Removes a socket file left at `path` by an earlier process; throws if something else is there. */
function removeStaleSocket(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket)
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `${path} exists and is not a socket; refusing to replace it`,
    );
  unlinkSync(path);
}
