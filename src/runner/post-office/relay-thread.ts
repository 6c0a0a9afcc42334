/**
 * The main thread's side of the market-data relays: one worker thread per process
 * (relay-worker.ts) runs every relay of every post office in it, and a {@link RelayHandle} stands for
 * one of them here.
 *
 * Lifecycle: post offices acquire the thread when they are made and release it when they close;
 * it starts at the first acquire (so that a spawn never waits for it) and stops at the last
 * release. It keeps the process alive while a relay is open or a request is waiting, as any open
 * socket would, and not otherwise.
 *
 * Failure: if the thread dies (an uncaught error in it), it is started again and every relay is
 * opened again with its route; strategies see their connection drop and reconnect by themselves
 * (a ZeroMQ SUB does), and requests waiting at the time are answered once that is done. A thread
 * that dies before it ever became ready is not restarted: every request fails with the reason.
 */
import { Worker } from "node:worker_threads";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { RELAY_COUNTERS, RelayCounter } from "./market-data-relay.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import type { RelayReply, RelayRequest } from "./relay-protocol.ts";

/** What a relay needs to open. */
export interface RelayOptions {
  /** The Unix socket path of the local endpoint. */
  readonly path: string;
  readonly highWaterMark: number;
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

let shared: RelayThread | undefined;

/** See the file comment. */
export class RelayThread {
  #users = 0;
  #worker: Worker | undefined;
  #ready: Promise<void> = Promise.resolve();
  #everReady = false;
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
    return this.#ready;
  }

  /** Opens a relay listening at `options.path`, routed to nobody; rejects with HiveError if it cannot listen. */
  async open(options: RelayOptions): Promise<RelayHandle> {
    const relay = new RelayHandle(this, this.#nextRelay++, options);
    this.#relays.set(relay.id, relay);
    try {
      await this.request(relay.openRequest());
    } catch (err) {
      this.#relays.delete(relay.id);
      throw err;
    }
    return relay;
  }

  /** Sends a request for a relay and resolves when it is done (for {@link RelayHandle}). */
  async request(body: RequestBody): Promise<void> {
    const id = this.#nextId++;
    // Registered before the thread is ready, so that the process stays up while it starts.
    const done = new Promise<void>((resolve, reject) =>
      this.#waiting.set(id, { relay: body.relay, resolve, reject }),
    );
    // Settled by a failed start or a restart even when this call throws instead of returning it.
    done.catch(() => undefined);
    this.#keepAlive();
    try {
      await this.#ready;
    } catch (err) {
      this.#waiting.delete(id);
      this.#keepAlive();
      throw err;
    }
    const worker = this.#worker;
    if (worker === undefined || !this.#waiting.has(id)) {
      this.#waiting.delete(id);
      throw new HiveError(ErrorCode.Unavailable, "the market-data relay thread is not running");
    }
    worker.postMessage({ ...body, id });
    return done;
  }

  /** Forgets a closed relay (for {@link RelayHandle}). */
  forget(relay: RelayHandle): void {
    this.#relays.delete(relay.id);
    this.#keepAlive();
  }

  /** Ends the thread the way a crash would; for the tests of the restart only. */
  crashForTest(): Promise<number> {
    return this.#worker?.terminate() ?? Promise.resolve(0);
  }

  #start(): void {
    if (this.#worker !== undefined) return;
    const worker = new Worker(new URL("./relay-worker-entry.mjs", import.meta.url));
    this.#worker = worker;
    this.#keepAlive();
    this.#ready = new Promise<void>((resolve, reject) => {
      worker.on("message", (reply: RelayReply) => {
        if (reply.type === "ready") {
          this.#everReady = true;
          resolve();
        } else this.#reply(reply);
      });
      worker.on("error", (err) => this.#died(worker, HiveError.from(err), reject));
      worker.on("exit", (code) =>
        this.#died(
          worker,
          new HiveError(ErrorCode.Internal, `the relay thread exited with code ${code}`),
          reject,
        ),
      );
    });
    // A start that fails rejects every request that awaits it; nobody may be waiting yet.
    this.#ready.catch(() => undefined);
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

  #died(worker: Worker, err: HiveError, rejectStart: (err: HiveError) => void): void {
    if (this.#worker !== worker) return; // stopped on purpose, or already handled (error, then exit)
    this.#worker = undefined;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    if (!this.#everReady) {
      rejectStart(err);
      for (const w of waiting) w.reject(err);
      this.#keepAlive();
      return;
    }
    for (const relay of this.#relays.values())
      relay.log.error(
        { route: relay.label, err: err.message },
        "market-data relay thread failed; restarting it (strategies reconnect to their local endpoints)",
      );
    this.#start();
    void this.#reopen(waiting);
  }

  async #reopen(waiting: readonly Waiter[]): Promise<void> {
    const outcome = new Map<number, HiveError | undefined>();
    await Promise.all(
      [...this.#relays.values()].map((relay) =>
        this.request(relay.openRequest()).then(
          () => outcome.set(relay.id, undefined),
          (err: unknown) => {
            outcome.set(relay.id, HiveError.from(err));
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
    const worker = this.#worker;
    this.#worker = undefined;
    if (shared === this) shared = undefined;
    for (const w of this.#waiting.values())
      w.reject(new HiveError(ErrorCode.Unavailable, "the market-data relay thread was stopped"));
    this.#waiting.clear();
    await worker?.terminate();
  }

  /** Holds the process open while a relay is open or a request waits, and only then. */
  #keepAlive(): void {
    if (this.#relays.size > 0 || this.#waiting.size > 0) this.#worker?.ref();
    else this.#worker?.unref();
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
    if (wanted.size === previous.length && previous.every((r) => wanted.has(r))) return;
    // The route wanted is recorded first: a restarted relay thread opens the relay with it.
    this.#remotes = [...wanted];
    try {
      await this.#thread.request({ op: "route", relay: this.id, remotes: this.#remotes });
    } catch (err) {
      // Refused whole (a bad address): the relay kept its route.
      this.#remotes = previous;
      throw err;
    }
  }

  /** Closes the relay: its links, strategy connections and socket file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Forgotten first, so that a relay thread restarted meanwhile does not open it again.
    this.#thread.forget(this);
    await this.#thread.request({ op: "close", relay: this.id });
  }

  /** The request that opens this relay as it stands (for its first open and after a restart). */
  openRequest(): RequestBody {
    return {
      op: "open",
      relay: this.id,
      path: this.#options.path,
      highWaterMark: this.#options.highWaterMark,
      label: this.#options.label,
      counters: this.#counters,
      remotes: this.#remotes,
    };
  }
}
