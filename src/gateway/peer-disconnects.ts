/**
 * Counts the connections peers lose on the gateway's sockets, by socket kind, and logs each.
 *
 * libzmq closes a peer's connection, before reading it, when the peer sends a frame over the
 * socket's `maxMessageSize` (gateway-config.ts, `messageLimits`); its monitor then reports a plain
 * `disconnect`, the same event as a peer that went away (a runner restarting, a partition), so
 * the two cannot be told apart here: both are counted and logged, with the limit in the line.
 */
import type * as zmq from "zeromq";
import { HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";

/** The sockets whose peers are watched. */
export type WatchedSocket = "orders" | "control";

/** Lost connections by socket kind; the gateway's metrics read it. */
export class PeerDisconnects {
  readonly counts: Record<WatchedSocket, number> = { orders: 0, control: 0 };

  constructor(private readonly log: Logger) {}

  /** Counts `socket`'s lost connections until it is closed (the monitor ends with it). */
  watch(socket: zmq.Socket, kind: WatchedSocket, maxFrameBytes: number): void {
    void (async () => {
      try {
        for await (const event of socket.events) {
          if (event.type !== "disconnect") continue;
          this.counts[kind] += 1;
          this.log.warn(
            { socket: kind, peer: event.address, maxFrameBytes },
            "gateway: a peer's connection closed (it went away, or sent a frame over the size limit, which closes it unread)",
          );
        }
      } catch (err) {
        this.log.warn({ socket: kind, err: HiveError.from(err).message }, "gateway: socket monitor failed");
      }
    })();
  }
}
