/**
 * The market-data bridge of one consumed SUB socket: the strategy's SUB stays connected to a
 * stable stage while route stages come and go behind it.
 *
 *   feeder PUB ─tcp─▶ [route stage: XSUB ═proxy═ XPUB] ─inproc─┐
 *   feeder PUB ─tcp─▶ [route stage: XSUB ═proxy═ XPUB] ─inproc─┤
 *                                                              ▼
 *                [stable stage: XSUB (binds inproc) ═proxy═ XPUB (binds ipc)] ─ipc─▶ strategy SUB
 *
 * Why two stages: a native proxy owns its sockets until it stops, and stopping it closes them,
 * so the stage that holds the strategy's ipc endpoint is never stopped, and remotes change by
 * starting and stopping whole route stages instead of connecting and disconnecting a socket.
 * Why one route stage per remote (not one per remote set): a remote that stays in the route is
 * never touched, so adding a second feeder, or moving one of two, cannot lose or repeat a
 * message of the feeder that stayed. The price is one pool thread per remote (thread-budget.ts).
 *
 * A change is make-before-break when the thread budget allows: new stages start (and connect)
 * before the old ones stop, so the data path changes in the time a TCP connect and a ZeroMQ
 * handshake take. What a strategy sees at a move from A to B: A's messages until A's stage is
 * stopped and B's from the moment B has its subscriptions (a PUB drops what it publishes before
 * then, as ZeroMQ always does for a new subscriber), the two interleaved for the millisecond or
 * so in between; a message of A still inside A's stage when it stops is dropped (linger 0).
 * A remote in both the old and the new route is untouched. Nothing is delivered twice: each message
 * comes from exactly one remote through exactly one stage. When the budget is short, old stages
 * stop before new ones start (a gap instead of an overlap; the strategy still sees no
 * disconnect).
 */
import * as zmq from "zeromq";
import { MeteringTap } from "./metering-tap.ts";
import { NativeProxy } from "./native-proxy.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import { RouteStage } from "./route-stage.ts";
import { commonSocketOptions } from "./socket-options.ts";
import type { ThreadBudget } from "./thread-budget.ts";

/** What a market-data bridge needs. */
export interface MarketDataBridgeOptions {
  /** Unique within the process: names the inproc endpoints. */
  readonly id: string;
  /** The ipc:// endpoint the strategy connects to. */
  readonly localEndpoint: string;
  readonly highWaterMark: number;
  /** Count messages and bytes with a metering tap (metering-tap.ts); costs JavaScript time per message. */
  readonly meter: boolean;
  readonly budget: ThreadBudget;
  readonly log: PostOfficeLog;
  /** Names the bridge in logs and errors, e.g. `dep-1/market_data`. */
  readonly label: string;
}

/** What a market-data bridge can say about its traffic. */
export interface MarketDataFigures {
  /** Remotes routed to, in route order. */
  readonly remotes: readonly string[];
  /** Remotes whose TCP connection is up now. */
  readonly connectedRemotes: number;
  /** Metering tap counts, or null when unmetered. */
  readonly messages: number | null;
  readonly bytes: number | null;
}

/** One consumed SUB socket's bridge; see the file comment. */
export class MarketDataBridge {
  readonly #options: MarketDataBridgeOptions;
  readonly #stableEndpoint: string;
  readonly #stable: NativeProxy;
  readonly #tap: MeteringTap | undefined;
  /** Route stages by remote, in route order. */
  #stages = new Map<string, RouteStage>();
  #tapSeq = 0;

  private constructor(options: MarketDataBridgeOptions, stableEndpoint: string, stable: NativeProxy) {
    this.#options = options;
    this.#stableEndpoint = stableEndpoint;
    this.#stable = stable;
    this.#tap = options.meter
      ? new MeteringTap(stableEndpoint, options.highWaterMark, options.log, options.label)
      : undefined;
  }

  /** Binds the local endpoint and starts the stable stage (one pool thread). */
  static open(options: MarketDataBridgeOptions): MarketDataBridge {
    const socketOptions = commonSocketOptions(options.highWaterMark);
    const stableEndpoint = `inproc://hive-po-${options.id}`;
    const front = new zmq.XSubscriber(socketOptions);
    const back = new zmq.XPublisher(socketOptions);
    try {
      // bindSync: an async bind would queue on the libuv pool, which proxies may fill.
      front.bindSync(stableEndpoint);
      back.bindSync(options.localEndpoint);
    } catch (err) {
      front.close();
      back.close();
      throw err;
    }
    const stable = NativeProxy.start(front, back, options.budget, `${options.label} stable`, options.log);
    return new MarketDataBridge(options, stableEndpoint, stable);
  }

  /** The remotes routed to now. */
  get remotes(): readonly string[] {
    return [...this.#stages.keys()];
  }

  /**
   * Routes the socket to exactly `remotes` (deduplicated): starts a stage per new remote, stops
   * the stages of remotes no longer listed, leaves the others alone. Resolves once removed stages
   * have released their threads.
   */
  async setRemotes(remotes: readonly string[]): Promise<void> {
    const next = [...new Set(remotes)];
    const added = next.filter((r) => !this.#stages.has(r));
    const removed = [...this.#stages.keys()].filter((r) => !next.includes(r));
    if (added.length === 0 && removed.length === 0) return;
    const makeBeforeBreak = this.#options.budget.free >= added.length;
    if (!makeBeforeBreak) await this.#stopStages(removed);
    const started = new Map<string, RouteStage>();
    try {
      for (const remote of added) started.set(remote, this.#startStage(remote));
    } catch (err) {
      await Promise.all([...started.values()].map((stage) => this.#stopStage(stage)));
      throw err;
    }
    if (makeBeforeBreak) await this.#stopStages(removed);
    const stages = new Map<string, RouteStage>();
    for (const remote of next) {
      const stage = this.#stages.get(remote) ?? started.get(remote);
      if (stage !== undefined) stages.set(remote, stage);
    }
    this.#stages = stages;
  }

  /** Traffic figures; see {@link MarketDataFigures}. */
  figures(): MarketDataFigures {
    const stages = [...this.#stages.values()];
    return {
      remotes: stages.map((s) => s.remote),
      connectedRemotes: stages.filter((s) => s.connected).length,
      messages: this.#tap?.messages ?? null,
      bytes: this.#tap?.bytes ?? null,
    };
  }

  /** Stops every stage (the strategy's SUB then sees its peer go) and waits for their threads. */
  async close(): Promise<void> {
    await this.#stopStages([...this.#stages.keys()]);
    await this.#tap?.close();
    await this.#stable.stop();
  }

  #startStage(remote: string): RouteStage {
    const tapEndpoint = this.#tap === undefined ? undefined : `${this.#stableEndpoint}-tap-${this.#tapSeq++}`;
    const stage = new RouteStage({
      remote,
      stableEndpoint: this.#stableEndpoint,
      tapEndpoint,
      highWaterMark: this.#options.highWaterMark,
      budget: this.#options.budget,
      log: this.#options.log,
      label: this.#options.label,
    });
    if (tapEndpoint !== undefined) this.#tap?.attach(tapEndpoint);
    return stage;
  }

  async #stopStages(remotes: readonly string[]): Promise<void> {
    const stages = remotes.flatMap((r) => this.#stages.get(r) ?? []);
    for (const remote of remotes) this.#stages.delete(remote);
    await Promise.all(stages.map((stage) => this.#stopStage(stage)));
  }

  async #stopStage(stage: RouteStage): Promise<void> {
    if (stage.tapEndpoint !== undefined) await this.#tap?.detach(stage.tapEndpoint);
    await stage.stop();
  }
}
