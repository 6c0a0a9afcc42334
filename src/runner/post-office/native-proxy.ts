/**
 * One native ZeroMQ proxy (zmq_proxy_steerable on a libuv pool thread), with its pool thread
 * accounted for and a stop that waits until the thread is free again.
 *
 * While it runs, the proxy owns both sockets: zeromq.js marks them busy, and they must not be
 * touched from JavaScript (a ZeroMQ socket is not thread-safe). When it stops, zeromq.js closes
 * both sockets; there is no way to get them back, so a proxy is started once and stopped once.
 */
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import type { ThreadBudget } from "./thread-budget.ts";

/** A running native proxy between a front-end and a back-end socket. */
export class NativeProxy {
  readonly #proxy: zmq.Proxy;
  #finished = false;
  #stopping = false;
  /** Settles (never rejects) once the proxy thread has returned and both sockets are closed. */
  readonly done: Promise<void>;

  private constructor(
    proxy: zmq.Proxy,
    run: Promise<void>,
    readonly label: string,
    budget: ThreadBudget,
    log: PostOfficeLog,
  ) {
    this.#proxy = proxy;
    this.done = run
      .then(
        () => {
          if (!this.#stopping) log.error({ proxy: label }, "post office proxy ended without being stopped");
        },
        (reason: unknown) => {
          log.error({ proxy: label, err: HiveError.from(reason) }, "post office proxy failed");
        },
      )
      .finally(() => {
        // Whatever ended it, its thread is free and its sockets are closed now.
        this.#finished = true;
        budget.release(1);
      });
  }

  /**
   * Takes one pool thread from `budget` and starts proxying between two sockets that are already
   * bound or connected. On failure both sockets are closed and the thread is given back.
   */
  static start(
    front: zmq.Socket,
    back: zmq.Socket,
    budget: ThreadBudget,
    label: string,
    log: PostOfficeLog,
  ): NativeProxy {
    try {
      budget.take(1, label);
    } catch (err) {
      front.close();
      back.close();
      throw err;
    }
    try {
      const proxy = new zmq.Proxy(front, back);
      return new NativeProxy(proxy, proxy.run(), label, budget, log);
    } catch (err) {
      budget.release(1);
      front.close();
      back.close();
      throw new HiveError(ErrorCode.Internal, `${label}: could not start the native proxy`, { cause: err });
    }
  }

  /** Asks the proxy to terminate and waits until its thread is free; safe to call more than once. */
  stop(): Promise<void> {
    if (!this.#finished && !this.#stopping) this.#proxy.terminate();
    this.#stopping = true;
    return this.done;
  }
}
