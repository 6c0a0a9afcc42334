/**
 * One ZMTP 3.0 connection over a stream socket (TCP or Unix): our greeting, the peer's, the NULL
 * mechanism's READY both ways, then frames. Both sides of the market-data relay use it: towards a
 * strategy it is a PUB that accepted an ipc connection, towards a feeder a SUB that connected.
 *
 *   greeting ──64 octets read, acceptable──▶ handshake ──READY read, socket types fit──▶ open
 *       └──────────── a bad greeting or READY, an ERROR, a timeout, the socket closed ──▶ closed
 *
 * While open, PING is answered with PONG here, and a PING's TTL is kept: a peer that asks to be
 * dropped after TTL × 100 ms without traffic (libzmq's ZMQ_HEARTBEAT_TTL) is, so a publisher that
 * froze with its TCP connection up is noticed. Data frames and other commands go to `onFrame`.
 * Our greeting goes out at once, whole: libzmq sends its signature and then waits for the
 * peer's before it sends the rest of its own, so waiting for the peer first would deadlock.
 */
import type { Socket } from "node:net";
import {
  FLAG_COMMAND,
  FrameParser,
  type FrameHandler,
  GREETING_BYTES,
  greeting,
  greetingProblem,
  parseCommand,
  pong,
  ready,
  readyProblem,
  type ZmtpSocketType,
} from "./zmtp.ts";

/** The states of a connection; see the file comment. */
export type ZmtpState = "greeting" | "handshake" | "open" | "closed";

/** What a connection tells its owner. */
export interface ZmtpHandlers {
  /** The handshake is done: frames may be sent. */
  onOpen(): void;
  /** A data frame, or a command other than PING, PONG and ERROR, while open. */
  readonly onFrame: FrameHandler;
  /** Every frame of one read has been handed to onFrame. */
  onReadEnd?(): void;
  /** The connection ended; `reason` says why when it was not a plain close. Called once. */
  onClose(reason: string | undefined): void;
}

/** What a connection needs besides its socket and handlers. */
export interface ZmtpConnectionOptions {
  /** The socket type we present. */
  readonly socketType: ZmtpSocketType;
  /** The as-server field of our greeting: true on the side that accepted the connection. */
  readonly asServer: boolean;
  /** The largest frame body accepted. */
  readonly maxFrameBytes: number;
  /** Time for the peer to finish its greeting and READY. */
  readonly handshakeTimeoutMs: number;
}

/** See the file comment. */
export class ZmtpConnection {
  #state: ZmtpState = "greeting";
  #greeting = Buffer.alloc(0);
  readonly #parser: FrameParser;
  readonly #timer: NodeJS.Timeout;
  /** Armed by a PING with a TTL, pushed back by every read. */
  #ttlTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    readonly options: ZmtpConnectionOptions,
    readonly handlers: ZmtpHandlers,
  ) {
    this.#parser = new FrameParser(options.maxFrameBytes);
    this.#timer = setTimeout(
      () => this.close("the peer did not finish its handshake in time"),
      options.handshakeTimeoutMs,
    );
    socket.setNoDelay?.(true);
    socket.on("data", (chunk: Buffer) => this.#read(chunk));
    socket.on("error", (err) => this.close(err.message));
    socket.on("close", () => this.close(undefined));
    socket.write(greeting(options.asServer));
  }

  /** Where the handshake is. */
  get state(): ZmtpState {
    return this.#state;
  }

  /** Sends bytes that are whole frames; ignored unless open. */
  send(bytes: Buffer, done?: () => void): void {
    if (this.#state === "open") this.socket.write(bytes, done);
  }

  /** Ends the connection (the socket is destroyed); the first call's reason is reported. */
  close(reason: string | undefined): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#timer);
    clearTimeout(this.#ttlTimer);
    this.socket.destroy();
    this.handlers.onClose(reason);
  }

  #read(chunk: Buffer): void {
    // Any traffic answers the last PING's TTL (as libzmq cancels its timer); the next PING arms it
    // again, a PING in this very read included. Cheaper than moving the timer on every read.
    if (this.#ttlTimer !== undefined) {
      clearTimeout(this.#ttlTimer);
      this.#ttlTimer = undefined;
    }
    if (this.#state === "greeting") {
      const missing = GREETING_BYTES - this.#greeting.length;
      this.#greeting = Buffer.concat([this.#greeting, chunk.subarray(0, missing)]);
      const problem = greetingProblem(this.#greeting);
      if (problem !== undefined) return this.close(problem);
      if (this.#greeting.length < GREETING_BYTES) return;
      this.#state = "handshake";
      this.socket.write(ready(this.options.socketType));
      chunk = chunk.subarray(missing);
      if (chunk.length === 0) return;
    }
    if (this.#state === "closed") return;
    const problem = this.#parser.push(chunk, this.#onFrame);
    if (problem !== undefined) this.close(problem);
    else this.handlers.onReadEnd?.();
  }

  /** A PING's TTL, in tenths of a second (0: none): close after that long without a read. */
  #keepTtl(deciseconds: number): void {
    clearTimeout(this.#ttlTimer);
    this.#ttlTimer =
      deciseconds === 0
        ? undefined
        : setTimeout(
            () => this.close(`nothing from the peer within its heartbeat TTL of ${deciseconds * 100} ms`),
            deciseconds * 100,
          );
  }

  readonly #onFrame: FrameHandler = (flags, buf, start, bodyStart, end) => {
    if (this.#state === "closed") return;
    if ((flags & FLAG_COMMAND) === 0) {
      if (this.#state === "open") this.handlers.onFrame(flags, buf, start, bodyStart, end);
      else this.close("the peer sent a message before its READY");
      return;
    }
    const cmd = parseCommand(buf.subarray(bodyStart, end));
    if (cmd === undefined) return this.close("the peer sent a command without a name");
    if (cmd.name === "ERROR") {
      const size = cmd.data[0] ?? 0;
      return this.close(`the peer reported an error: ${cmd.data.toString("latin1", 1, 1 + size)}`);
    }
    if (this.#state === "handshake") {
      if (cmd.name !== "READY") return this.close(`expected READY from the peer, got ${cmd.name}`);
      const problem = readyProblem(cmd.data, this.options.socketType);
      if (problem !== undefined) return this.close(problem);
      this.#state = "open";
      clearTimeout(this.#timer);
      this.handlers.onOpen();
      return;
    }
    if (cmd.name === "PING") {
      this.socket.write(pong(cmd.data));
      this.#keepTtl(cmd.data.length >= 2 ? cmd.data.readUInt16BE(0) : 0);
    } else if (cmd.name !== "PONG") this.handlers.onFrame(flags, buf, start, bodyStart, end);
  };
}
