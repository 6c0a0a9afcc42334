/**
 * The main thread's side of the market-data relays: one worker thread per process
 * (relay-worker.ts) runs every relay of every post office in it, and a {@link RelayHandle} stands for
 * one of them here.
 *
 * Lifecycle: post offices acquire the thread when they are made and release it when they close;
 * it starts at the first acquire (so that a spawn never waits for it) and stops at the last
 * release. It keeps the process alive while it starts, while a relay is open or a request is
 * waiting, as any open socket would, and not otherwise.
 *
 * Failure: if the thread dies (an uncaught error in it), it is started again and every relay is
 * opened again with its route; strategies see their connection drop and reconnect by themselves
 * (a ZeroMQ SUB does), and requests waiting at the time are answered once that is done. A thread
 * that cannot start, or that died {@link MAX_RESTARTS} times within a minute, rests: requests
 * fail at once with the reason, the relays' connected counts read 0, and it is started again
 * after 1 s, then 2, 4... up to a minute between tries, its relays reopened when it is up. A
 * relay whose reopening failed is opened again at its next route update.
 */
import { Worker } from "node:worker_threads";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { RELAY_COUNTERS, RelayCounter, type MarketDataLimits } from "./market-data-relay.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import type { RelayReply, RelayRequest } from "./relay-protocol.ts";

/** What a relay needs to open. */
export interface RelayOptions {
  /** The Unix socket path of the local endpoint. */
  readonly path: string;
  readonly highWaterMark: number;
  /** The largest frame and message a feeder may send. */
  readonly limits: MarketDataLimits;
  readonly label: string;
  readonly log: PostOfficeLog;
}

/** A relay's counts, read from memory the relay thread writes. */
export interface RelayFigures {
  readonly messages: number;
  readonly bytes: number;
  readonly drops: number;
  readonly connectedRemotes: number;
}

/** Omit over each member of a union. */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A request before it is given its id. */
type RequestBody = OmitEach<RelayRequest, "id">;

interface Waiter {
  readonly relay: number;
  resolve(): void;
  reject(err: HiveError): void;
}

/** One start of the thread: its worker, and whether and when it became ready. */
interface Start {
  readonly worker: Worker;
  /** Settles once: ready, or the start failed; a restart resolves it with the next start's. */
  readonly ready: Promise<void>;
  resolve(next?: Promise<void>): void;
  reject(err: HiveError): void;
  isReady: boolean;
}

/** Restarts within this window count towards {@link MAX_RESTARTS}. */
const RESTART_WINDOW_MS = 60_000;
/** A thread that died this many times within the window rests before it is started again. */
export const MAX_RESTARTS = 5;
/** The first rest, doubling at each rest in a row up to {@link REST_MAX_MS}. */
export const REST_FIRST_MS = 1000;
/** The longest rest. */
const REST_MAX_MS = 60_000;

let shared: RelayThread | undefined;

/** See the file comment. */
export class RelayThread {
  #users = 0;
  #current: Start | undefined;
  /** Why the thread is not running while it rests, and the timer that ends the rest. */
  #resting: { readonly why: HiveError; readonly timer: NodeJS.Timeout } | undefined;
  /** Rests in a row (a thread that stayed up a window long starts over at REST_FIRST_MS). */
  #rests = 0;
  readonly #restarts: number[] = [];
  #nextId = 1;
  #nextRelay = 1;
  readonly #waiting = new Map<number, Waiter>();
  readonly #relays = new Map<number, RelayHandle>();

  private constructor() {}

  /** The process's relay thread, started if it is not running; pair with {@link release}. */
  static acquire(): RelayThread {
    shared ??= new RelayThread();
    shared.#users += 1;
    shared.#start();
    return shared;
  }

  /** Gives the thread back; the last user's release stops it and resolves once it has ended. */
  async release(): Promise<void> {
    this.#users = Math.max(0, this.#users - 1);
    if (this.#users === 0) await this.#stop();
  }

  /** Resolves once the thread has started; rejects with the reason if it could not. */
  ready(): Promise<void> {
    return this.#current?.ready ?? Promise.reject(this.#notRunning());
  }

  /** Opens a relay listening at `options.path`, routed to nobody; rejects with HiveError if it cannot listen. */
  async open(options: RelayOptions): Promise<RelayHandle> {
    const relay = new RelayHandle(this, this.#nextRelay++, options);
    this.#relays.set(relay.id, relay);
    try {
      await this.request(relay.openRequest());
    } catch (err) {
      this.forget(relay);
      throw err;
    }
    return relay;
  }

  /**
   * Sends a request for a relay and resolves when it is done (for {@link RelayHandle}). Every
   * request states what a relay should be (open with its route, routed so, closed), so one that
   * a restart overtook is settled by the restart's reopening rather than sent again.
   */
  async request(body: RequestBody): Promise<void> {
    const id = this.#nextId++;
    // Registered before the thread is ready, so that the process stays up while it starts.
    const done = new Promise<void>((resolve, reject) =>
      this.#waiting.set(id, { relay: body.relay, resolve, reject }),
    );
    // Settled by a failed start or a restart even when this call throws instead of returning it.
    done.catch(() => undefined);
    this.#keepAlive();
    const start = this.#current;
    if (start === undefined) return this.#drop(id, this.#notRunning());
    // A start that dies settles or takes over every waiter (#died, #rest, #stop): still waiting
    // after its ready means it is the current start, ready.
    await start.ready.catch(() => undefined);
    if (this.#waiting.has(id)) start.worker.postMessage({ ...body, id });
    return done;
  }

  /** Forgets a closed relay (for {@link RelayHandle}). */
  forget(relay: RelayHandle): void {
    this.#relays.delete(relay.id);
    this.#keepAlive();
  }

  /** Ends the thread the way a crash would; for the tests of the restart only. */
  crashForTest(): Promise<number> {
    return this.#current?.worker.terminate() ?? Promise.resolve(0);
  }

  #drop(id: number, err: HiveError): never {
    this.#waiting.delete(id);
    this.#keepAlive();
    throw err;
  }

  #notRunning(): HiveError {
    return (
      this.#resting?.why ??
      new HiveError(ErrorCode.Unavailable, "the market-data relay thread is not running")
    );
  }

  /** Starts a worker unless one runs or the thread gave up; returns the current start. */
  #start(): Start | undefined {
    if (this.#current !== undefined || this.#resting !== undefined) return this.#current;
    const worker = new Worker(new URL("./relay-worker-entry.mjs", import.meta.url));
    let settle: { resolve(next?: Promise<void>): void; reject(err: HiveError): void } | undefined;
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // Nobody may be waiting on a start that fails.
    ready.catch(() => undefined);
    const start: Start = {
      worker,
      ready,
      resolve: (next) => settle?.resolve(next),
      reject: (err) => settle?.reject(err),
      isReady: false,
    };
    this.#current = start;
    worker.on("message", (reply: RelayReply) => {
      if (reply.type !== "ready") return this.#reply(reply);
      start.isReady = true;
      start.resolve();
      this.#keepAlive();
    });
    worker.on("error", (err) => this.#died(start, HiveError.from(err)));
    worker.on("exit", (code) =>
      this.#died(start, new HiveError(ErrorCode.Internal, `the relay thread exited with code ${code}`)),
    );
    // After the listeners: attaching one holds the process open again.
    this.#keepAlive();
    return start;
  }

  #reply(reply: Exclude<RelayReply, { type: "ready" }>): void {
    if (reply.type === "log") {
      this.#relays.get(reply.relay)?.log[reply.level](reply.fields, reply.message);
      return;
    }
    const waiter = this.#waiting.get(reply.id);
    if (waiter === undefined) return;
    this.#waiting.delete(reply.id);
    if (reply.type === "done") waiter.resolve();
    else waiter.reject(new HiveError(ErrorCode.FailedPrecondition, reply.message));
    this.#keepAlive();
  }

  /**
   * A start's worker ended without being stopped: it is started again and every relay reopened,
   * or it rests first (see the file comment).
   */
  #died(start: Start, err: HiveError): void {
    if (this.#current !== start) return; // stopped on purpose, or already handled (error, then exit)
    this.#current = undefined;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    const now = performance.now();
    while (this.#restarts.length > 0 && (this.#restarts[0] as number) < now - RESTART_WINDOW_MS)
      this.#restarts.shift();
    if (this.#restarts.length === 0) this.#rests = 0;
    const couldStart = start.isReady || this.#restarts.length > 0;
    if (!couldStart || this.#restarts.length >= MAX_RESTARTS) {
      this.#rest(err, couldStart);
      start.reject(this.#notRunning());
      for (const w of waiting) w.reject(this.#notRunning());
      return;
    }
    this.#restarts.push(now);
    for (const relay of this.#relays.values())
      relay.log.error(
        { route: relay.label, err: err.message },
        "market-data relay thread failed; restarting it (strategies reconnect to their local endpoints)",
      );
    // Whoever still waits for the dead start waits for the new one.
    start.resolve(this.#start()?.ready);
    void this.#reopen(waiting);
  }

  /** Starts resting: requests fail with why, the relays read as unconnected, a timer ends it. */
  #rest(err: HiveError, couldStart: boolean): void {
    const ms = Math.min(REST_MAX_MS, REST_FIRST_MS * 2 ** this.#rests++);
    const why = new HiveError(
      ErrorCode.Unavailable,
      couldStart
        ? `the market-data relay thread died ${this.#restarts.length + 1} times within a minute (${err.message}); next start in ${ms / 1000} s`
        : `the market-data relay thread could not start (${err.message}); next try in ${ms / 1000} s`,
      { cause: err },
    );
    const timer = setTimeout(() => {
      this.#resting = undefined;
      this.#start();
      void this.#reopen([]);
    }, ms);
    timer.unref();
    this.#resting = { why, timer };
    for (const relay of this.#relays.values()) {
      relay.lost();
      relay.log.error({ route: relay.label, err: why.message }, "market-data relay thread down");
    }
  }

  async #reopen(waiting: readonly Waiter[]): Promise<void> {
    const outcome = new Map<number, HiveError | undefined>();
    await Promise.all(
      [...this.#relays.values()].map((relay) =>
        this.request(relay.openRequest()).then(
          () => {
            relay.reopened();
            outcome.set(relay.id, undefined);
          },
          (err: unknown) => {
            outcome.set(relay.id, HiveError.from(err));
            relay.lost();
            relay.log.error(
              { route: relay.label, err: HiveError.from(err).message },
              "market-data relay not reopened",
            );
          },
        ),
      ),
    );
    for (const w of waiting) {
      const err = outcome.get(w.relay);
      if (err === undefined) w.resolve();
      else w.reject(err);
    }
  }

  /** Stops the thread for good (the next acquire makes a new one) and waits until it has ended. */
  async #stop(): Promise<void> {
    const start = this.#current;
    this.#current = undefined;
    clearTimeout(this.#resting?.timer);
    this.#resting = undefined;
    if (shared === this) shared = undefined;
    const stopped = new HiveError(ErrorCode.Unavailable, "the market-data relay thread was stopped");
    for (const w of this.#waiting.values()) w.reject(stopped);
    this.#waiting.clear();
    start?.reject(stopped);
    await start?.worker.terminate();
  }

  /** Holds the process open while the thread starts, a relay is open or a request waits, and only then. */
  #keepAlive(): void {
    const start = this.#current;
    if (start === undefined) return;
    if (!start.isReady || this.#relays.size > 0 || this.#waiting.size > 0) start.worker.ref();
    else start.worker.unref();
  }
}

/** One relay on the relay thread. */
export class RelayHandle {
  readonly #thread: RelayThread;
  readonly #options: RelayOptions;
  readonly #counters = new SharedArrayBuffer(RELAY_COUNTERS * Float64Array.BYTES_PER_ELEMENT);
  readonly #view = new Float64Array(this.#counters);
  #remotes: readonly string[] = [];
  #closed = false;
  /** False once its thread died and it could not be opened again: the next route update opens it. */
  #opened = true;

  /** Made by {@link RelayThread.open}. */
  constructor(
    thread: RelayThread,
    readonly id: number,
    options: RelayOptions,
  ) {
    this.#thread = thread;
    this.#options = options;
  }

  /** The relay's log. */
  get log(): PostOfficeLog {
    return this.#options.log;
  }

  /** Names the relay in logs. */
  get label(): string {
    return this.#options.label;
  }

  /** The remotes routed to now, in route order. */
  get remotes(): readonly string[] {
    return this.#remotes;
  }

  /** Its thread is gone and it is not open (for {@link RelayThread}): nothing is connected. */
  lost(): void {
    this.#opened = false;
    this.#view[RelayCounter.ConnectedRemotes] = 0;
  }

  /** Its thread opened it again (for {@link RelayThread}). */
  reopened(): void {
    this.#opened = true;
  }

  /** The relay's counts now. */
  figures(): RelayFigures {
    const v = this.#view;
    return {
      messages: v[RelayCounter.Messages] as number,
      bytes: v[RelayCounter.Bytes] as number,
      drops: v[RelayCounter.Drops] as number,
      connectedRemotes: v[RelayCounter.ConnectedRemotes] as number,
    };
  }

  /** Routes to exactly `remotes` (see market-data-relay.ts); resolves once the relay thread applied it. */
  async setRemotes(remotes: readonly string[]): Promise<void> {
    const previous = this.#remotes;
    const wanted = new Set(remotes);
    // The same set in another order changes nothing (the route keeps its order).
    if (this.#opened && wanted.size === previous.length && previous.every((r) => wanted.has(r))) return;
    // The route wanted is recorded first: a restarted relay thread opens the relay with it.
    this.#remotes = [...wanted];
    try {
      // A relay its thread could not reopen is opened again, with this route.
      await this.#thread.request(
        this.#opened ? { op: "route", relay: this.id, remotes: this.#remotes } : this.openRequest(),
      );
      this.#opened = true;
    } catch (err) {
      // Refused whole (a bad address): the relay kept its route.
      if (this.#opened) this.#remotes = previous;
      throw err;
    }
  }

  /**
   * Closes the relay: its links, strategy connections and socket file. A relay whose thread is
   * gone (stopped, or given up after dying) is closed already: its sockets went with the thread.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Forgotten first, so that a relay thread restarted meanwhile does not open it again.
    this.#thread.forget(this);
    try {
      await this.#thread.request({ op: "close", relay: this.id });
    } catch (err) {
      // Unavailable: the thread is gone, and this relay's sockets went with it.
      if (!(err instanceof HiveError && err.code === ErrorCode.Unavailable)) throw err;
    }
  }

  /** The request that opens this relay as it stands (for its first open and after a restart). */
  openRequest(): RequestBody {
    return {
      op: "open",
      relay: this.id,
      path: this.#options.path,
      highWaterMark: this.#options.highWaterMark,
      limits: this.#options.limits,
      label: this.#options.label,
      counters: this.#counters,
      remotes: this.#remotes,
    };
  }
}
