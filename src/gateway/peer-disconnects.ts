/**
 * Counts the connections peers lose on the gateway's sockets, by socket kind, and logs them: the
 * first at once, then at most one line a minute per socket with the number closed meanwhile (a
 * peer in a reconnect loop sets the rate).
 *
 * libzmq closes a peer's connection, before reading it, when the peer sends a frame over the
 * socket's `maxMessageSize` (gateway-config.ts, `messageLimits`); its monitor then reports a plain
 * `disconnect`, the same event as a peer that went away (a runner restarting, a partition), so
 * the two cannot be told apart here: both are counted and logged, with the limit in the line.
 */
import type * as zmq from "zeromq";
import { HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { QuietInterval } from "../core/quiet-interval.ts";

/** At most one log line per socket kind in this long. */
const LOG_EVERY_MS = 60_000;

/** The sockets whose peers are watched. */
export type WatchedSocket = "orders" | "control";

/** Lost connections by socket kind; the gateway's metrics read it. */
export class PeerDisconnects {
  readonly counts: Record<WatchedSocket, number> = { orders: 0, control: 0 };

  readonly #lines: QuietInterval;

  constructor(
    private readonly log: Logger,
    now: () => number = () => performance.now(),
  ) {
    this.#lines = new QuietInterval(LOG_EVERY_MS, now);
  }

  /** Counts `socket`'s lost connections until it is closed (the monitor ends with it). */
  watch(socket: zmq.Socket, kind: WatchedSocket, maxFrameBytes: number): void {
    void (async () => {
      try {
        for await (const event of socket.events) {
          if (event.type !== "disconnect") continue;
          this.counts[kind] += 1;
          const quiet = this.#lines.pass(kind);
          if (quiet === undefined) continue;
          this.log.warn(
            { socket: kind, peer: event.address, maxFrameBytes, notLoggedSinceLast: quiet },
            "gateway: a peer's connection closed (it went away, or sent a frame over the size limit, which closes it unread)",
          );
        }
      } catch (err) {
        this.log.warn({ socket: kind, err: HiveError.from(err).message }, "gateway: socket monitor failed");
      }
    })();
  }
}
