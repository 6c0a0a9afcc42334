import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { AsyncQueue } from "../../core/async-queue.ts";
import { backoffDelay, sleep, type BackoffOptions } from "../../core/backoff.ts";
import { HiveError } from "../../core/hive-error.ts";
import type { TlsMaterial } from "../../security/pki/index.ts";
import { grpcJsTransport } from "./grpc-transport.ts";
import {
  RunnerMessageSchema,
  RunnerService,
  type HeartbeatAck,
  type OrchestratorMessage,
  type Register,
  type RegisterAck,
  type RunnerMessage,
} from "../../protocol/index.ts";

/**
 * The state of the runner's link to the orchestrator.
 *
 *   connecting ──(RegisterAck accepted)──▶ registered ──(stream ends/fails)──▶ disconnected
 *       ▲   └──(RegisterAck refused)──▶ refused ───(backoff)──┐                     │
 *       └──────────────────────────────────────────────────────┴─────(backoff)──────┘
 *   any ──(close)──▶ closed
 */
export type OrchestratorLinkState = "connecting" | "registered" | "refused" | "disconnected" | "closed";

/** One message the runner sends, without its envelope (plain objects are fine). */
export type RunnerPayload = NonNullable<MessageInitShape<typeof RunnerMessageSchema>["message"]>;

/** Options of {@link OrchestratorLink}. */
export interface LinkOptions {
  /** Orchestrator base URLs (`https://host:port`, or `http://` on loopback), tried in turn. */
  readonly urls: readonly string[];
  /** Builds the Register message for each (re)connection, so it lists what runs right now. */
  readonly register: () => Register;
  /** Handles each message from the orchestrator, in order (the next waits for this one). */
  readonly onMessage: (message: OrchestratorMessage) => Promise<void> | void;
  readonly onState?: (state: OrchestratorLinkState, detail: string) => void;
  /** Each HeartbeatAck, as it arrives (it renews the lease: see lease-guard.ts). */
  readonly onHeartbeatAck?: (ack: HeartbeatAck) => void;
  readonly backoff?: BackoffOptions;
  /** The cluster CA, node certificate and key for `https://` orchestrators (mutual TLS). */
  readonly tls?: TlsMaterial;
  /** For tests: a transport per URL (e.g. Connect's in-memory router transport). */
  readonly transport?: (url: string) => Transport;
  readonly random?: () => number;
  /**
   * How long the stream may stay silent (no message at all from the orchestrator, which answers
   * every heartbeat) before the runner calls it dead and reconnects. Default: the lease TTL from
   * the RegisterAck.
   */
  readonly silenceTimeoutMs?: number;
  /**
   * How long a new stream may take to be registered (dialled, Register sent, RegisterAck back)
   * before the runner gives up on it and tries again. A dial into a silent partition would
   * otherwise wait on the kernel's SYN retries (minutes), long after the network healed.
   * Default {@link DEFAULT_REGISTER_TIMEOUT_MS}.
   */
  readonly registerTimeoutMs?: number;
  /**
   * Called while a message has been in `onMessage` for `slowMessageMs` or more (then again every
   * `slowMessageMs` while it lasts), and once more when it ends. Every message behind it waits, a
   * `setOrderPath` of a failover included, while heartbeats go on renewing the lease: a node
   * that looks healthy and does nothing. Nothing else notices; this names the message.
   */
  readonly onSlowMessage?: (slow: SlowMessage) => void;
  /** See onSlowMessage. Default {@link DEFAULT_SLOW_MESSAGE_MS}. */
  readonly slowMessageMs?: number;
}

/** A message of the orchestrator that is taking long to handle (see LinkOptions.onSlowMessage). */
export interface SlowMessage {
  /** The message's kind, e.g. `routeUpdate`. */
  readonly kind: string;
  /** How long it has been (or was) in the handler. */
  readonly ms: number;
  /** Messages received behind it, not yet handled. */
  readonly waiting: number;
  /** Whether its handler has ended. */
  readonly done: boolean;
}

/** The default of {@link LinkOptions.slowMessageMs}. */
export const DEFAULT_SLOW_MESSAGE_MS = 10_000;

/** The default of {@link LinkOptions.registerTimeoutMs}. */
export const DEFAULT_REGISTER_TIMEOUT_MS = 3_000;

/** Reconnects from about 100 ms up to 5 s apart, jittered. */
export const DEFAULT_LINK_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5_000 };

/**
 * The runner's end of the runner protocol: one gRPC stream that the runner opens (so it works
 * through NAT and firewalls), re-opened with jittered backoff whenever it breaks. Every new
 * stream starts with a fresh Register, which lists the deployments the runner still runs, so the
 * orchestrator re-adopts them instead of restarting anything. While disconnected the runner
 * keeps its processes running; `send` then reports false and the caller decides (heartbeats are
 * simply skipped; answers are re-sent as state in the next Register).
 */
export class OrchestratorLink {
  private stateValue: OrchestratorLinkState = "disconnected";
  private outgoing: AsyncQueue<RunnerMessage> | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  /** One transport per orchestrator URL, with its connection, reused across reconnections. */
  private readonly transports = new Map<string, Transport & { close?(): void }>();
  private ackValue: RegisterAck | undefined;
  /** When the orchestrator was last heard from, on the monotonic clock (performance.now()). */
  private lastHeard = 0;
  /** The orchestrator messages being handled, one after the other (see session()). */
  private handling: Promise<void> = Promise.resolve();
  /** Messages received and not yet handled, the one in the handler included. */
  private unhandled = 0;

  constructor(private readonly options: LinkOptions) {
    if (options.urls.length === 0) {
      throw new HiveError("invalid_argument", "no orchestrator address: give at least one http://host:port");
    }
  }

  /** The current state. */
  get state(): OrchestratorLinkState {
    return this.stateValue;
  }

  /** The last RegisterAck accepted (lease timings), if any. */
  get ack(): RegisterAck | undefined {
    return this.ackValue;
  }

  /** Milliseconds since the orchestrator was last heard from (monotonic; Infinity if never). */
  silenceMs(): number {
    return this.lastHeard === 0 ? Infinity : performance.now() - this.lastHeard;
  }

  /** Starts connecting; returns at once. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Sends a message if registered; returns false (and sends nothing) otherwise. */
  send(message: RunnerPayload): boolean {
    const q = this.outgoing;
    if (this.stateValue !== "registered" || q === undefined || q.isClosed) return false;
    q.push(create(RunnerMessageSchema, { message }));
    return true;
  }

  /** Closes the stream and stops reconnecting; resolves when the loop has ended. */
  async close(): Promise<void> {
    this.abort.abort(new HiveError("unavailable", "runner link closed"));
    this.outgoing?.close();
    await this.loop;
    await this.handling; // the messages received before it closed are handled, none after
    for (const t of this.transports.values()) t.close?.();
    this.setState("closed", "closed by the runner");
  }

  private setState(state: OrchestratorLinkState, detail: string): void {
    if (this.stateValue === "closed") return;
    this.stateValue = state;
    this.options.onState?.(state, detail);
  }

  private transportFor(url: string): Transport {
    let transport = this.transports.get(url);
    if (transport === undefined) {
      transport = this.options.transport?.(url) ?? grpcJsTransport(url, this.options.tls);
      this.transports.set(url, transport);
    }
    return transport;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const random = this.options.random ?? Math.random;
    const backoff = this.options.backoff ?? DEFAULT_LINK_BACKOFF;
    let attempt = 0;
    for (let round = 0; !signal.aborted; round++) {
      const url = this.options.urls[round % this.options.urls.length] ?? "";
      const accepted = await this.session(url, signal).catch((err: unknown) => {
        if (!signal.aborted) this.setState("disconnected", `${url}: ${HiveError.from(err).message}`);
        return false;
      });
      if (signal.aborted) break;
      attempt = accepted ? 0 : attempt + 1;
      // Aborted: the loop ends on the signal.
      await sleep(backoffDelay(attempt, backoff, random()), signal).catch(() => undefined);
    }
  }

  /** Hands one message to onMessage, reporting it while it is slow (LinkOptions.onSlowMessage). */
  private async handleOne(message: OrchestratorMessage): Promise<void> {
    const report = this.options.onSlowMessage;
    const every = this.options.slowMessageMs ?? DEFAULT_SLOW_MESSAGE_MS;
    const kind = message.message.case ?? "unknown";
    const started = performance.now();
    const slow = (done: boolean): SlowMessage => ({
      kind,
      ms: performance.now() - started,
      waiting: this.unhandled - 1,
      done,
    });
    const timer = report === undefined ? undefined : setInterval(() => report(slow(false)), every);
    timer?.unref();
    try {
      await this.options.onMessage(message);
    } finally {
      clearInterval(timer);
      if (report !== undefined && performance.now() - started >= every) report(slow(true));
      this.unhandled -= 1;
    }
  }

  /** Aborts the stream once the orchestrator has been silent for longer than allowed. */
  private watch(ack: RegisterAck, stream: AbortController, url: string): NodeJS.Timeout {
    const limit = this.options.silenceTimeoutMs ?? (ack.leaseTtlMs || 3 * (ack.heartbeatIntervalMs || 1_000));
    return setInterval(
      () => {
        if (this.silenceMs() > limit) {
          stream.abort(new HiveError("unavailable", `${url}: no word from the orchestrator in ${limit} ms`));
        }
      },
      Math.max(5, Math.min(250, limit / 4)),
    );
  }

  /** One stream: register, then deliver messages until it ends. Returns whether it registered. */
  private async session(url: string, linkSignal: AbortSignal): Promise<boolean> {
    this.setState("connecting", url);
    // A signal per stream, so the transport's listeners go away with the stream instead of
    // piling up on the link's long-lived signal over many reconnections.
    const stream = new AbortController();
    const onAbort = () => stream.abort(linkSignal.reason);
    linkSignal.addEventListener("abort", onAbort, { once: true });
    const signal = stream.signal;
    const client = createClient(RunnerService, this.transportFor(url));
    const queue = new AsyncQueue<RunnerMessage>();
    queue.push(
      create(RunnerMessageSchema, { message: { case: "register", value: this.options.register() } }),
    );
    this.outgoing = queue;
    let registered = false;
    let watchdog: NodeJS.Timeout | undefined;
    const registerTimeoutMs = this.options.registerTimeoutMs ?? DEFAULT_REGISTER_TIMEOUT_MS;
    const registerDeadline = setTimeout(() => {
      stream.abort(new HiveError("unavailable", `${url}: not registered within ${registerTimeoutMs} ms`));
    }, registerTimeoutMs);
    try {
      for await (const message of client.connect(queue, { signal })) {
        this.lastHeard = performance.now();
        if (!registered) {
          if (message.message.case !== "registerAck") {
            throw new HiveError(
              "internal",
              `${url}: expected RegisterAck first, got ${message.message.case}`,
            );
          }
          const ack = message.message.value;
          if (!ack.accepted) {
            this.setState("refused", `${url}: ${ack.reason || "registration refused"}`);
            return false;
          }
          registered = true;
          clearTimeout(registerDeadline);
          this.ackValue = ack;
          this.setState("registered", url);
          watchdog = this.watch(ack, stream, url);
          continue;
        }
        // Heartbeat acks prove the stream alive (lastHeard, above) and renew the runner's lease.
        if (message.message.case === "heartbeatAck") {
          this.options.onHeartbeatAck?.(message.message.value);
          continue;
        }
        // The rest is handled one message at a time, in order (across reconnections too), but
        // not inline: a slow one (a route update behind a busy post office, an eviction deleting
        // gigabytes) must not hold back the heartbeat acks behind it, which renew the lease. A
        // failure ends this stream, as before.
        this.unhandled += 1;
        this.handling = this.handling
          .then(() => this.handleOne(message))
          .catch((err: unknown) => {
            if (!stream.signal.aborted) stream.abort(err);
          });
      }
      if (!linkSignal.aborted) this.setState("disconnected", `${url}: stream ended`);
      return registered;
    } catch (err) {
      // A stream the watchdog aborted is reported with the watchdog's reason.
      if (stream.signal.aborted && !linkSignal.aborted) throw stream.signal.reason;
      throw err;
    } finally {
      clearTimeout(registerDeadline);
      clearInterval(watchdog);
      linkSignal.removeEventListener("abort", onAbort);
      stream.abort();
      queue.close();
      if (this.outgoing === queue) this.outgoing = undefined;
    }
  }
}
