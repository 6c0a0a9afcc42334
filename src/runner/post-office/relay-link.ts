/**
 * The market-data relay's link to one remote publisher: a ZMTP SUB over TCP that reconnects by
 * itself, sends the relay's subscriptions, and hands over the publisher's messages whole.
 *
 *   connecting ──tcp up──▶ (ZMTP handshake) ──READY──▶ open ──▶ subscriptions sent, messages read
 *       ▲                                                 │
 *       └─ waiting (below 10 ms, doubling to 1 s) ◀ closed┘        stop() ──▶ stopped, from anywhere
 *
 * Each wait is drawn at random below its cap (core/backoff.ts), so the runners of a desk do not
 * redial a restarted feeder at once. The caps start again from 10 ms once a connection delivered
 * a message or stayed open a second: a publisher that breaks every connection it accepts is not
 * dialled every 10 ms, and a quiet healthy one is redialled soon after a drop.
 *
 * Messages are handed over as byte ranges of whole frames, never a message cut in two: the
 * relay writes them to a strategy's socket as they are (ZMTP framing is the same on both
 * sides), so a run of complete messages that arrived in one read is one view of that read's
 * buffer, with no copy. A message whose frames arrived in several reads (or around a command)
 * is joined into one buffer of its own. Commands never reach the strategy.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { connect, type Socket } from "node:net";
import { backoffDelay } from "../../core/backoff.ts";
import { parseRemote, type RemoteAddress } from "./deployment-plan.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import { REMOTE_RECONNECT } from "./remote-reconnect.ts";
import { FLAG_COMMAND, FLAG_MORE, subscription } from "./zmtp.ts";
import { ZmtpConnection } from "./zmtp-connection.ts";

/** The states of a link; see the file comment. */
export type RelayLinkState = "connecting" | "open" | "waiting" | "stopped";

/** The waits between connection attempts (remote-reconnect.ts), each drawn at random below its cap. */
const RECONNECT = {
  initialMs: REMOTE_RECONNECT.reconnectInterval,
  maxMs: REMOTE_RECONNECT.reconnectMaxInterval,
};

/** What a link needs from its relay. */
export interface RelayLinkOptions {
  /** The remote publisher, `tcp://host:port` or `ipc://path`. */
  readonly remote: string;
  /** Names the relay in logs. */
  readonly label: string;
  readonly log: PostOfficeLog;
  readonly maxFrameBytes: number;
  readonly maxMessageBytes: number;
  readonly handshakeTimeoutMs: number;
  /** The topics to subscribe to once open (the relay's subscriptions at that moment). */
  topics(): Iterable<Buffer>;
  /** Whole messages: `views` in order, `messages` of them, `bytes` of frame bodies in all. */
  deliver(views: Buffer[], messages: number, bytes: number): void;
  /** The link is open (handshake done, subscriptions sent) or no longer is. */
  onOpenChange(open: boolean): void;
  /** The connection open now has delivered its first message (just before that delivery). */
  onFlowing?(): void;
}

/** See the file comment. */
export class RelayLink {
  #state: RelayLinkState = "waiting";
  #connection: ZmtpConnection | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Connection attempts since the last useful connection (the backoff's exponent). */
  #attempts = 0;
  #openedAt = 0;
  #flowing = false;
  readonly #address: RemoteAddress;
  // The message being read: where it starts in the current buffer while its frames are
  // contiguous there, or its frames so far (copied views) once they are not.
  #msgStart = -1;
  #msgEnd = -1;
  #msgBytes = 0;
  #spanning: Buffer[] = [];
  // Complete messages of the current buffer not yet handed over: [runStart, runEnd).
  #runStart = -1;
  #runEnd = -1;
  #buf: Buffer | undefined;
  #out: Buffer[] = [];
  #outMessages = 0;
  #outBytes = 0;

  /** Throws a HiveError (InvalidArgument) for a remote that is neither `tcp://host:port` nor `ipc://path` (the post office checks routes first). */
  constructor(readonly options: RelayLinkOptions) {
    const address = parseRemote(options.remote);
    if (address === undefined)
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `${JSON.stringify(options.remote)} is neither tcp://host:port nor ipc://path`,
      );
    this.#address = address;
    this.#connect();
  }

  /** Where the link is. */
  get state(): RelayLinkState {
    return this.#state;
  }

  /**
   * Whether messages have come through the connection open now: a publisher drops what it sends
   * before a subscription reached it, so being open does not yet mean receiving.
   */
  get flowing(): boolean {
    return this.#flowing;
  }

  /** Sends a subscription (or cancel) of `topic` now, if open; a link that opens later sends the relay's set. */
  subscribe(subscribe: boolean, topic: Buffer): void {
    if (this.#state === "open") this.#connection?.send(subscription(subscribe, topic));
  }

  /** Closes the connection for good; a message half read is dropped. */
  stop(): void {
    if (this.#state === "stopped") return;
    const wasOpen = this.#state === "open";
    this.#state = "stopped";
    clearTimeout(this.#timer);
    this.#connection?.close(undefined);
    this.#connection = undefined;
    if (wasOpen) this.options.onOpenChange(false);
  }

  #connect(): void {
    this.#state = "connecting";
    this.#resetMessage();
    const socket: Socket = connect({ ...this.#address, noDelay: true });
    this.#connection = new ZmtpConnection(
      socket,
      {
        socketType: "SUB",
        asServer: false,
        maxFrameBytes: this.options.maxFrameBytes,
        handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      },
      {
        onOpen: () => this.#onOpen(),
        onFrame: (flags, buf, start, bodyStart, end) => this.#onFrame(flags, buf, start, bodyStart, end),
        // Frames are read a buffer at a time: what a read completed is handed over after it.
        onReadEnd: () => this.#endBuffer(),
        onClose: (reason) => this.#onClose(reason),
      },
    );
  }

  #onOpen(): void {
    this.#state = "open";
    this.#openedAt = performance.now();
    for (const topic of this.options.topics()) this.#connection?.send(subscription(true, topic));
    this.options.onOpenChange(true);
  }

  #onClose(reason: string | undefined): void {
    if (this.#state === "stopped") return;
    const wasOpen = this.#state === "open";
    // A connection that proved useful starts the waits over.
    if (this.#flowing || (wasOpen && performance.now() - this.#openedAt >= RECONNECT.maxMs))
      this.#attempts = 0;
    this.#connection = undefined;
    this.#state = "waiting";
    this.#flowing = false;
    if (wasOpen) this.options.onOpenChange(false);
    if (reason !== undefined && !/ECONNREFUSED|ECONNRESET|EPIPE/.test(reason))
      this.options.log.warn(
        { route: this.options.label, remote: this.options.remote, reason },
        "market-data link closed; reconnecting",
      );
    this.#timer = setTimeout(() => this.#connect(), backoffDelay(this.#attempts++, RECONNECT, Math.random()));
  }

  // ---- messages -----------------------------------------------------------------------------

  #onFrame(flags: number, buf: Buffer, start: number, bodyStart: number, end: number): void {
    if (buf !== this.#buf) {
      // A read's first frame, or a new buffer within a read (the parser joined held-back bytes
      // to it): what is pending in the old one goes out first, a message in progress there is
      // copied out.
      this.#flushRun();
      this.#spillMessage();
      this.#buf = buf;
    }
    // Commands are not part of any message (the connection answers PING itself): the offsets of
    // the frames around one show the gap it leaves.
    if ((flags & FLAG_COMMAND) !== 0) return;
    this.#msgBytes += end - bodyStart;
    if (this.#msgBytes > this.options.maxMessageBytes) {
      this.#connection?.close(`a message is over the limit of ${this.options.maxMessageBytes} bytes`);
      return;
    }
    const more = (flags & FLAG_MORE) !== 0;
    // A command between two frames of this message: it can no longer be one range of the buffer.
    if (this.#msgStart !== -1 && start !== this.#msgEnd) this.#spillMessage();
    if (this.#spanning.length > 0) {
      this.#spanning.push(buf.subarray(start, end));
      if (!more) {
        this.#flushRun();
        this.#emit(Buffer.concat(this.#spanning), this.#msgBytes);
        this.#spanning = [];
        this.#msgBytes = 0;
      }
      return;
    }
    if (this.#msgStart === -1) this.#msgStart = start;
    this.#msgEnd = end;
    if (more) return;
    // A complete message: it extends the run if nothing (a command) lies between them.
    if (this.#runEnd === this.#msgStart) this.#runEnd = end;
    else {
      this.#flushRun();
      this.#runStart = this.#msgStart;
      this.#runEnd = end;
    }
    this.#outMessages += 1;
    this.#outBytes += this.#msgBytes;
    this.#msgStart = -1;
    this.#msgBytes = 0;
  }

  #endBuffer(): void {
    this.#flushRun();
    this.#spillMessage();
    this.#buf = undefined;
    if (this.#out.length === 0) return;
    const out = this.#out;
    const messages = this.#outMessages;
    const bytes = this.#outBytes;
    this.#out = [];
    this.#outMessages = 0;
    this.#outBytes = 0;
    if (this.#state !== "open") return;
    if (!this.#flowing) {
      this.#flowing = true;
      this.options.onFlowing?.();
    }
    this.options.deliver(out, messages, bytes);
  }

  #flushRun(): void {
    if (this.#runStart === -1 || this.#buf === undefined) return;
    this.#out.push(this.#buf.subarray(this.#runStart, this.#runEnd));
    this.#runStart = -1;
    this.#runEnd = -1;
  }

  /** Moves the frames read so far of a message in progress out of the current buffer. */
  #spillMessage(): void {
    if (this.#msgStart === -1 || this.#buf === undefined) return;
    this.#spanning.push(this.#buf.subarray(this.#msgStart, this.#msgEnd));
    this.#msgStart = -1;
  }

  /** A whole message that is not part of a run (it spanned buffers or a command). */
  #emit(message: Buffer, bytes: number): void {
    this.#out.push(message);
    this.#outMessages += 1;
    this.#outBytes += bytes;
  }

  #resetMessage(): void {
    this.#msgStart = -1;
    this.#msgEnd = -1;
    this.#msgBytes = 0;
    this.#spanning = [];
    this.#runStart = -1;
    this.#runEnd = -1;
    this.#buf = undefined;
    this.#out = [];
    this.#outMessages = 0;
    this.#outBytes = 0;
  }
}
