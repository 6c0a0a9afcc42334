/**
 * The post office's own ZeroMQ context, shared by every post office in the process: its order
 * paths' sockets (market data does not go through ZeroMQ sockets here, see market-data-relay.ts).
 *
 * One I/O thread, ZeroMQ's default: an order path moves a few messages at a time, and on a
 * runner whose cores are pinned to live strategies every extra thread competes for the one left.
 */
import * as zmq from "zeromq";

/** ZeroMQ I/O threads of the post office's context. */
export const POST_OFFICE_IO_THREADS = 1;

let shared: zmq.Context | undefined;

/** The post office's context, created on first use. */
export function postOfficeContext(): zmq.Context {
  shared ??= new zmq.Context({ ioThreads: POST_OFFICE_IO_THREADS });
  return shared;
}
