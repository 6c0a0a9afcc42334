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
}

/** The options for a high-water mark of `highWaterMark` messages per peer and direction. */
export function commonSocketOptions(highWaterMark: number): CommonSocketOptions {
  return {
    context: postOfficeContext(),
    linger: 0,
    sendHighWaterMark: highWaterMark,
    receiveHighWaterMark: highWaterMark,
  };
}
