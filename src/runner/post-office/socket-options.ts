/** ZeroMQ socket options shared by the post office's sockets. */
import type * as zmq from "zeromq";
import { postOfficeContext } from "./zmq-context.ts";

/** Options every post office socket gets. */
export interface CommonSocketOptions {
  /** The post office's own context (zmq-context.ts). */
  readonly context: zmq.Context;
  /** Close at once, dropping what is queued: nothing may hold the runner's exit, and stale data is worthless. */
  readonly linger: number;
  readonly sendHighWaterMark: number;
  readonly receiveHighWaterMark: number;
  /**
   * The largest frame a peer may send (ZMQ_MAXMSGSIZE; -1: no limit). libzmq checks a frame's
   * size from its header, before reading it, and closes the connection of a peer that sends a
   * bigger one: the frame is never read, queued or parsed.
   */
  readonly maxMessageSize: number;
}

/**
 * The options for a high-water mark of `highWaterMark` messages per peer and direction, and
 * frames of at most `maxFrameBytes` from the peer (default: no limit).
 */
export function commonSocketOptions(highWaterMark: number, maxFrameBytes = -1): CommonSocketOptions {
  return {
    maxMessageSize: maxFrameBytes,
    context: postOfficeContext(),
    linger: 0,
    sendHighWaterMark: highWaterMark,
    receiveHighWaterMark: highWaterMark,
  };
}
