/**
 * A strategy's connection to the market-data relay: the strategy's SUB connected to the local
 * ipc endpoint, the relay acting as its PUB. It reads the strategy's subscriptions and writes it
 * whole messages, dropping instead when more than the high-water mark of them wait for the
 * strategy (a PUB's behaviour towards a slow subscriber: the feeder is never held back).
 */
import type { Socket } from "node:net";
import { FLAG_COMMAND, FLAG_MORE } from "./zmtp.ts";
import { ZmtpConnection } from "./zmtp-connection.ts";

/** What a session needs from its relay. */
export interface RelaySessionOptions {
  /** Messages that may wait for the strategy before new ones are dropped. */
  readonly highWaterMark: number;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  /** The session's first subscription to `topic` (true) or its last cancel of it (false). */
  onSubscription(subscribe: boolean, topic: Buffer): void;
  /** The connection ended (`reason` when it was not a plain close); its subscriptions were cancelled first. */
  onClose(session: RelaySession, reason: string | undefined): void;
}

/** See the file comment. */
export class RelaySession {
  readonly #connection: ZmtpConnection;
  readonly #options: RelaySessionOptions;
  /**
   * Subscriptions by topic (latin1 of its bytes). A set, as libzmq's XPUB keeps per peer: a SUB
   * sends a subscription for every subscribe() call but a cancel only for its last unsubscribe().
   */
  readonly #topics = new Set<string>();
  /** Messages handed to the socket whose write has not completed. */
  #queued = 0;
  /** A multi-frame message from the strategy is not a subscription: skip to its end. */
  #skipping = false;

  constructor(socket: Socket, options: RelaySessionOptions) {
    this.#options = options;
    this.#connection = new ZmtpConnection(
      socket,
      {
        socketType: "PUB",
        asServer: true,
        maxFrameBytes: options.maxFrameBytes,
        handshakeTimeoutMs: options.handshakeTimeoutMs,
      },
      {
        onOpen: () => undefined,
        onFrame: (flags, buf, _start, bodyStart, end) => this.#onFrame(flags, buf, bodyStart, end),
        onClose: (reason) => this.#onClose(reason),
      },
    );
  }

  /** Whether messages can be written (the handshake is done). */
  get open(): boolean {
    return this.#connection.state === "open";
  }

  /** Topics this strategy subscribes to now. */
  get topics(): readonly string[] {
    return [...this.#topics];
  }

  /**
   * Writes `views` (whole messages, `messages` of them, one read's worth) unless that would put
   * more than the high-water mark of messages in wait; returns false when they were dropped. A
   * read's messages are written or dropped together, and written whenever nothing waits (one
   * read may hold more messages than a small high-water mark).
   */
  write(views: readonly Buffer[], messages: number): boolean {
    if (this.#queued > 0 && this.#queued + messages > this.#options.highWaterMark) return false;
    this.#queued += messages;
    const done = () => {
      this.#queued -= messages;
    };
    const last = views.length - 1;
    if (last === 0) {
      this.#connection.send(views[0] as Buffer, done);
      return true;
    }
    const socket = this.#connection.socket;
    socket.cork();
    for (let i = 0; i < last; i++) this.#connection.send(views[i] as Buffer);
    this.#connection.send(views[last] as Buffer, done);
    socket.uncork();
    return true;
  }

  /** Closes the connection (the strategy's SUB sees its peer go and reconnects by itself). */
  close(): void {
    this.#connection.close(undefined);
  }

  #onFrame(flags: number, buf: Buffer, bodyStart: number, end: number): void {
    if ((flags & FLAG_COMMAND) !== 0) return; // a command other than PING/PONG/ERROR: nothing to do
    const more = (flags & FLAG_MORE) !== 0;
    if (this.#skipping || more) {
      this.#skipping = more;
      return;
    }
    const kind = bodyStart < end ? buf[bodyStart] : undefined;
    if (kind !== 0 && kind !== 1) return; // not a subscription; a SUB sends nothing else
    const key = buf.toString("latin1", bodyStart + 1, end);
    if (kind === 1) {
      if (this.#topics.has(key)) return;
      this.#topics.add(key);
      this.#options.onSubscription(true, Buffer.from(key, "latin1"));
    } else if (this.#topics.delete(key)) {
      this.#options.onSubscription(false, Buffer.from(key, "latin1"));
    }
  }

  #onClose(reason: string | undefined): void {
    for (const key of this.#topics) this.#options.onSubscription(false, Buffer.from(key, "latin1"));
    this.#topics.clear();
    this.#options.onClose(this, reason);
  }
}
