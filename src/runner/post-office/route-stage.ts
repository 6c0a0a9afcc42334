/**
 * A route stage of a market-data bridge: the runner's link to one remote publisher.
 *
 *   remote PUB ──tcp──▶ XSUB ══ native proxy ══ XPUB ──inproc──▶ stable stage's XSUB
 *
 * The XSUB connects to the remote and the XPUB connects to the stable stage's inproc endpoint,
 * both before the proxy starts (the proxy owns them afterwards). Subscriptions travel the other
 * way: the stable XSUB sends every subscription it holds to each new peer, this XPUB hands them
 * to the proxy, and the XSUB sends them to the remote once its TCP handshake is done.
 */
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { NativeProxy } from "./native-proxy.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import { commonSocketOptions, REMOTE_RECONNECT } from "./socket-options.ts";
import type { ThreadBudget } from "./thread-budget.ts";

/** What a route stage needs from its bridge. */
export interface RouteStageOptions {
  /** The remote publisher, `tcp://ip:port`. */
  readonly remote: string;
  /** The stable stage's inproc endpoint. */
  readonly stableEndpoint: string;
  /** An inproc endpoint to also bind the XPUB at, for the metering tap; absent when unmetered. */
  readonly tapEndpoint?: string;
  readonly highWaterMark: number;
  readonly budget: ThreadBudget;
  readonly log: PostOfficeLog;
  /** Names the bridge in logs and errors. */
  readonly label: string;
}

/** One running route stage. */
export class RouteStage {
  #connected = false;
  readonly #proxy: NativeProxy;
  readonly #watch: Promise<void>;
  /** The remote publisher. */
  readonly remote: string;
  /** The XPUB's second endpoint for the metering tap, if metered. */
  readonly tapEndpoint: string | undefined;

  /** Builds and starts the stage; throws HiveError InvalidArgument for an address ZeroMQ refuses. */
  constructor(options: RouteStageOptions) {
    this.remote = options.remote;
    this.tapEndpoint = options.tapEndpoint;
    const socketOptions = commonSocketOptions(options.highWaterMark);
    const front = new zmq.XSubscriber({ ...socketOptions, ...REMOTE_RECONNECT });
    const back = new zmq.XPublisher(socketOptions);
    // The monitor goes on before connect: attached after it, zeromq.js sometimes delivers no
    // event at all once a proxy owns the socket. It ends when the XSUB is closed.
    this.#watch = this.#watchConnection(front.events, options.log, options.label);
    try {
      back.connect(options.stableEndpoint);
      if (options.tapEndpoint !== undefined) back.bindSync(options.tapEndpoint);
      try {
        front.connect(options.remote);
      } catch (err) {
        throw new HiveError(
          ErrorCode.InvalidArgument,
          `${options.label}: cannot connect to remote ${JSON.stringify(options.remote)}; expected tcp://ip:port`,
          { cause: err },
        );
      }
    } catch (err) {
      front.close();
      back.close();
      throw HiveError.from(err);
    }
    this.#proxy = NativeProxy.start(
      front,
      back,
      options.budget,
      `${options.label} route ${options.remote}`,
      options.log,
    );
  }

  /** Whether the TCP connection to the remote is up (handshake done, not since disconnected). */
  get connected(): boolean {
    return this.#connected;
  }

  /** Stops the proxy (which closes both sockets) and waits until its thread is free. */
  async stop(): Promise<void> {
    await this.#proxy.stop();
    await this.#watch;
  }

  async #watchConnection(events: zmq.Observer, log: PostOfficeLog, label: string): Promise<void> {
    try {
      // The iteration ends when the proxy closes the XSUB.
      for await (const event of events) {
        if (event.type === "handshake") this.#connected = true;
        else if (event.type === "disconnect" || event.type === "close") this.#connected = false;
      }
    } catch (err) {
      log.warn({ route: label, remote: this.remote, err: HiveError.from(err) }, "route stage monitor failed");
    }
    this.#connected = false;
  }
}
