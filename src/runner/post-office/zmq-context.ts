/**
 * The post office's own ZeroMQ context, shared by every post office in the process (inproc
 * endpoints exist only within one context, and the stages reach each other over inproc).
 *
 * Two I/O threads rather than the default one: every market-data message is read from TCP and
 * written to ipc by an I/O thread, and with one thread those two steps queue behind each other;
 * with two they run side by side. In runs of the forwarder benchmark's harness on two cores,
 * the median through/direct throughput rose from about 82% with one I/O thread to 87-91% with
 * two. These are ZeroMQ's own threads, not libuv pool threads.
 */
import * as zmq from "zeromq";

/** ZeroMQ I/O threads of the post office's context. */
export const POST_OFFICE_IO_THREADS = 2;

let shared: zmq.Context | undefined;

/** The post office's context, created on first use. */
export function postOfficeContext(): zmq.Context {
  shared ??= new zmq.Context({ ioThreads: POST_OFFICE_IO_THREADS });
  return shared;
}
