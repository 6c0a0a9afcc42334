/**
 * A TCP proxy that can hold bytes back, so a test can reorder messages between connections the
 * way a slow network does: hold the connection open now, let a later connection through, then
 * release the first one — "an old activate arriving after the new one".
 *
 * Each connection is two pipes (client→server "toServer", server→client "toClient"). A pipe is
 * held if the proxy-wide hold or the connection's own hold covers its direction. Held bytes are
 * queued, and a queued FIN waits behind them; release() flushes in arrival order. A queue past
 * maxBufferedBytes pauses its source socket, so TCP's own backpressure takes over.
 */
import { once } from "node:events";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { ErrorCode, HiveError } from "../../../src/core/hive-error.ts";

/** Which way bytes flow: client→server, server→client, or both. */
export type Direction = "toServer" | "toClient" | "both";

/** Byte counts per direction. */
export interface ByteCounts {
  readonly toServer: number;
  readonly toClient: number;
}

/** Options of DelayProxy.start. */
export interface DelayProxyOptions {
  /** Where connections are forwarded. */
  readonly target: { readonly host: string; readonly port: number };
  /** Listen address (default 127.0.0.1; port is always chosen by the kernel). */
  readonly listenHost?: string;
  /** Queue bound per connection and direction before the source is paused (default 16 MiB). */
  readonly maxBufferedBytes?: number;
}

type OneWay = "toServer" | "toClient";

function covers(direction: Direction, way: OneWay): boolean {
  return direction === "both" || direction === way;
}

/** One direction of one connection. */
class Pipe {
  forwarded = 0;
  queued = 0;
  private readonly queue: Buffer[] = [];
  private sourceEnded = false;
  private pausedForLimit = false;
  private pausedForDrain = false;

  constructor(
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly isHeld: () => boolean,
    private readonly limit: number,
    private readonly onForward: (n: number) => void,
  ) {
    source.on("data", (chunk: Buffer) => this.onData(chunk));
    source.on("end", () => {
      this.sourceEnded = true;
      this.flush();
    });
    dest.on("drain", () => {
      this.pausedForDrain = false;
      this.resumeIfFree();
    });
  }

  /** Forwards what the hold allows, in order; ends the destination after a queued FIN. */
  flush(): void {
    while (this.queue.length > 0 && !this.isHeld() && !this.dest.destroyed) {
      const chunk = this.queue.shift() as Buffer;
      this.queued -= chunk.length;
      this.write(chunk);
    }
    if (this.queued < this.limit && this.pausedForLimit) {
      this.pausedForLimit = false;
      this.resumeIfFree();
    }
    if (this.sourceEnded && this.queue.length === 0 && !this.isHeld() && !this.dest.destroyed)
      this.dest.end();
  }

  private onData(chunk: Buffer): void {
    if (this.queue.length > 0 || this.isHeld()) {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued >= this.limit) {
        this.pausedForLimit = true;
        this.source.pause();
      }
      return;
    }
    this.write(chunk);
  }

  private write(chunk: Buffer): void {
    this.forwarded += chunk.length;
    this.onForward(chunk.length);
    if (!this.dest.write(chunk)) {
      this.pausedForDrain = true;
      this.source.pause();
    }
  }

  private resumeIfFree(): void {
    if (!this.pausedForLimit && !this.pausedForDrain && !this.source.destroyed) this.source.resume();
  }
}

/** One proxied connection, with its own hold. */
export class ProxyConnection {
  private readonly holds = { toServer: false, toClient: false };
  private readonly pipes: Record<OneWay, Pipe>;
  /** Resolves when both sockets are closed. */
  readonly closed: Promise<void>;

  constructor(
    /** Accept order, from 1. */
    readonly id: number,
    private readonly client: Socket,
    private readonly server: Socket,
    proxyHeld: (way: OneWay) => boolean,
    limit: number,
    count: (way: OneWay, n: number) => void,
  ) {
    const held = (way: OneWay) => () => this.holds[way] || proxyHeld(way);
    this.pipes = {
      toServer: new Pipe(client, server, held("toServer"), limit, (n) => count("toServer", n)),
      toClient: new Pipe(server, client, held("toClient"), limit, (n) => count("toClient", n)),
    };
    // An error on either side (RST, refused) is passed on as a reset of the other.
    client.on("error", () => server.destroy());
    server.on("error", () => client.destroy());
    // Not events.once: it would reject on the 'error' that precedes a reset's 'close'.
    const closeOf = (s: Socket): Promise<void> =>
      s.closed ? Promise.resolve() : new Promise((r) => s.once("close", () => r()));
    this.closed = Promise.all([closeOf(client), closeOf(server)]).then(() => undefined);
  }

  /** Holds this connection's bytes (default both ways) until release(). */
  hold(direction: Direction = "both"): void {
    if (covers(direction, "toServer")) this.holds.toServer = true;
    if (covers(direction, "toClient")) this.holds.toClient = true;
  }

  /** Lifts this connection's hold and flushes what it queued (a proxy-wide hold still applies). */
  release(direction: Direction = "both"): void {
    if (covers(direction, "toServer")) this.holds.toServer = false;
    if (covers(direction, "toClient")) this.holds.toClient = false;
    this.flush();
  }

  /** Destroys both sockets; queued bytes are dropped. */
  cut(): void {
    this.client.destroy();
    this.server.destroy();
  }

  /** Bytes forwarded so far. */
  get bytes(): ByteCounts {
    return { toServer: this.pipes.toServer.forwarded, toClient: this.pipes.toClient.forwarded };
  }

  /** Bytes queued by a hold, not yet forwarded. */
  get heldBytes(): ByteCounts {
    return { toServer: this.pipes.toServer.queued, toClient: this.pipes.toClient.queued };
  }

  /** Whether both sockets are gone. */
  get isClosed(): boolean {
    return this.client.destroyed && this.server.destroyed;
  }

  /** Forwards what the holds now allow. */
  flush(): void {
    this.pipes.toServer.flush();
    this.pipes.toClient.flush();
  }
}

/** A TCP proxy on 127.0.0.1:<ephemeral> to one target, with holds and cuts. */
export class DelayProxy {
  private readonly holds = { toServer: false, toClient: false };
  private readonly open = new Set<ProxyConnection>();
  private readonly totals = { toServer: 0, toClient: 0 };
  private accepted: ProxyConnection[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    private readonly options: DelayProxyOptions,
  ) {
    server.on("connection", (client) => this.onConnection(client));
  }

  /** Starts listening; the port is the kernel's choice. */
  static async start(options: DelayProxyOptions): Promise<DelayProxy> {
    const server = createServer({ allowHalfOpen: true });
    const proxy = new DelayProxy(server, options);
    server.listen(0, options.listenHost ?? "127.0.0.1");
    await once(server, "listening");
    return proxy;
  }

  /** The listen address. */
  get host(): string {
    return (this.server.address() as AddressInfo).address;
  }

  /** The listen port. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Holds every connection, open now or accepted later (default both ways). */
  hold(direction: Direction = "both"): void {
    if (covers(direction, "toServer")) this.holds.toServer = true;
    if (covers(direction, "toClient")) this.holds.toClient = true;
  }

  /** Holds each connection open now, but not later ones: a later connection overtakes them. */
  holdExisting(direction: Direction = "both"): ProxyConnection[] {
    const held = [...this.open];
    for (const c of held) c.hold(direction);
    return held;
  }

  /** Lifts the proxy-wide hold and flushes, in order (per-connection holds stay). */
  release(direction: Direction = "both"): void {
    if (covers(direction, "toServer")) this.holds.toServer = false;
    if (covers(direction, "toClient")) this.holds.toClient = false;
    for (const c of this.open) c.flush();
  }

  /** Destroys every open connection; the proxy keeps accepting new ones. */
  cutConnections(): void {
    for (const c of this.open) c.cut();
  }

  /** Connections in accept order, closed ones included. */
  connections(): readonly ProxyConnection[] {
    return this.accepted;
  }

  /** Bytes forwarded over all connections. */
  get bytes(): ByteCounts {
    return { ...this.totals };
  }

  /** Resolves once `n` connections have been accepted in all; rejects after timeoutMs. */
  waitForConnections(n: number, timeoutMs: number): Promise<readonly ProxyConnection[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.accepted.length < n) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(this.accepted);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new HiveError(
            ErrorCode.Unavailable,
            `proxy: ${this.accepted.length}/${n} connections after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Stops listening, destroys every connection and resolves when the server is closed. */
  async close(): Promise<void> {
    const closed = once(this.server, "close");
    this.server.close();
    this.cutConnections();
    await Promise.all([closed, ...[...this.open].map((c) => c.closed)]);
    this.accepted = [];
  }

  private onConnection(client: Socket): void {
    const upstream = connect({ ...this.options.target, allowHalfOpen: true });
    const conn = new ProxyConnection(
      this.accepted.length + 1,
      client,
      upstream,
      (way) => this.holds[way],
      this.options.maxBufferedBytes ?? 16 * 1024 * 1024,
      (way, n) => (this.totals[way] += n),
    );
    this.open.add(conn);
    this.accepted.push(conn);
    void conn.closed.then(() => this.open.delete(conn));
    for (const waiter of [...this.waiters]) waiter();
  }
}
