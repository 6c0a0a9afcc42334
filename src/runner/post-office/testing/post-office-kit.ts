/**
 * Helpers for the post office's tests with real ZeroMQ on loopback: a temporary run directory,
 * feeders that publish until stopped, gateways (plain or CURVE, with a ZAP handler) and
 * strategies for the order path, bounded waits, and routes as the layout engine makes them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as zmq from "zeromq";
import type { SocketPattern } from "../../../domain/index.ts";
import { localEndpoint, type Route } from "../../../layout/routing.ts";
import { z85Encode } from "../../../core/z85.ts";
import type { OrderEnvelope } from "../../../protocol/orders/index.ts";
import type { PostOfficeLog } from "../post-office-log.ts";

/** A fresh run directory under the system temp dir (short, for the Unix socket path limit). */
export function tempRunDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "hive-po-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A route as computeRoutes would produce it. */
export function routeFor(
  runDir: string,
  deploymentId: string,
  socket: string,
  pattern: SocketPattern,
  remotes: readonly string[],
): Route {
  return { deploymentId, socket, pattern, local: localEndpoint(runDir, deploymentId, socket), remotes };
}

/** A log that keeps every line it is told, message first, in `lines`. */
export function recordingLog(): PostOfficeLog & { lines: string[] } {
  const lines: string[] = [];
  const keep = (fields: Record<string, unknown>, message: string) =>
    lines.push(`${message} ${JSON.stringify(fields)}`);
  return { lines, info: keep, warn: keep, error: keep };
}

/** Polls `condition` every few milliseconds; throws if it is still false after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** A feeder: a PUB bound on loopback that publishes `[topic, {src, n}]` for each topic every `everyMs`. */
export class TestFeeder {
  readonly pub = new zmq.Publisher({ linger: 0 });
  #running = false;
  #loop: Promise<void> = Promise.resolve();
  sent = 0;

  constructor(readonly name: string) {}

  /** Binds on 127.0.0.1 at a free port and resolves to the tcp:// address. */
  async bind(): Promise<string> {
    await this.pub.bind("tcp://127.0.0.1:*");
    const endpoint = this.pub.lastEndpoint;
    if (endpoint === null) throw new Error(`feeder ${this.name} has no endpoint`);
    return endpoint;
  }

  /** Publishes until stop(), at most `maxMessages` rounds. */
  start(topics: readonly string[], everyMs = 2, maxMessages = 20_000): void {
    this.#running = true;
    this.#loop = (async () => {
      for (let n = 0; this.#running && n < maxMessages; n++) {
        for (const topic of topics) await this.pub.send([topic, JSON.stringify({ src: this.name, n })]);
        this.sent++;
        await sleep(everyMs);
      }
    })();
  }

  /** Stops publishing and closes the socket. */
  async close(): Promise<void> {
    this.#running = false;
    await this.#loop;
    this.pub.close();
  }
}

/** A strategy-side SUB that records what it receives and every monitor event of its socket. */
export class TestSubscriber {
  readonly sub = new zmq.Subscriber({ linger: 0 });
  readonly received: { topic: string; src: string; n: number }[] = [];
  readonly events: string[] = [];
  readonly #loops: Promise<void>;

  constructor(endpoint: string, topics: readonly string[]) {
    // The monitor first, so that it sees the connect itself.
    const watch = (async () => {
      for await (const event of this.sub.events) this.events.push(event.type);
    })();
    this.sub.connect(endpoint);
    this.sub.subscribe(...topics);
    const read = (async () => {
      for await (const [topic, body] of this.sub) {
        const parsed = JSON.parse(body?.toString() ?? "{}") as { src: string; n: number };
        this.received.push({ topic: topic?.toString() ?? "", ...parsed });
      }
    })();
    this.#loops = Promise.all([watch, read]).then(() => undefined);
  }

  /** Whether anything from `src` arrived after index `from` of `received`. */
  seen(src: string, from = 0): boolean {
    return this.received.slice(from).some((m) => m.src === src);
  }

  /** Closes the socket and waits for its loops. */
  async close(): Promise<void> {
    this.sub.close();
    await this.#loops;
  }
}

/** A gateway stand-in: a ROUTER on loopback that records every frame it receives. */
export class TestGateway {
  readonly router: zmq.Router;
  readonly received: { peer: Buffer; envelope: OrderEnvelope; bytes: number }[] = [];
  /** The number of orders each message carried, in order of arrival. */
  readonly messageSizes: number[] = [];
  #loop: Promise<void> = Promise.resolve();
  address = "";

  /** Plain TCP, or a CURVE server with this secret key (its ZAP handler decides who may connect). */
  constructor(curve?: { readonly secretKey: string }) {
    this.router = new zmq.Router(
      curve === undefined
        ? { linger: 0 }
        : { linger: 0, curveServer: true, curveSecretKey: curve.secretKey, zapDomain: "hive-test" },
    );
  }

  async bind(ackOrders: boolean): Promise<string> {
    await this.router.bind("tcp://127.0.0.1:*");
    this.address = this.router.lastEndpoint ?? "";
    this.#loop = (async () => {
      // A runner sends the orders it has queued as one message, a frame per order.
      for await (const [peer, ...frames] of this.router) {
        if (peer === undefined || frames.length === 0) continue;
        this.messageSizes.push(frames.length);
        const envelopes = frames.map((frame) => {
          const envelope = JSON.parse(frame.toString()) as OrderEnvelope;
          this.received.push({ peer, envelope, bytes: frame.length });
          return envelope;
        });
        if (ackOrders)
          await this.router.send([
            peer,
            ...envelopes.map((e) => JSON.stringify({ type: "ack", clientOrderId: e.clientOrderId })),
          ]);
      }
    })();
    return this.address;
  }

  async close(): Promise<void> {
    this.router.close();
    await this.#loop;
  }
}

/**
 * A ZAP handler (ZeroMQ RFC 27) at inproc://zeromq.zap.01 of the default context: it admits a
 * CURVE client only if its public key is in `allowed`, and records every key it was asked about.
 * One per process: libzmq asks whichever socket is bound at that address.
 */
export class TestZapHandler {
  readonly router = new zmq.Router({ linger: 0 });
  readonly allowed = new Set<string>();
  readonly asked: { key: string; admitted: boolean }[] = [];
  #loop: Promise<void> = Promise.resolve();

  async bind(): Promise<void> {
    await this.router.bind("inproc://zeromq.zap.01");
    this.#loop = (async () => {
      for await (const [peer, empty, version, requestId, , , , mechanism, key] of this.router) {
        if (peer === undefined || empty === undefined || version === undefined || requestId === undefined)
          continue;
        const z85 = mechanism?.toString() === "CURVE" && key?.length === 32 ? z85Encode(key) : "";
        const admitted = this.allowed.has(z85);
        this.asked.push({ key: z85, admitted });
        await this.router.send([
          peer,
          empty,
          version,
          requestId,
          admitted ? "200" : "400",
          admitted ? "OK" : "unknown key",
          admitted ? "runner" : "",
          "",
        ]);
      }
    })();
  }

  async close(): Promise<void> {
    this.router.close();
    await this.#loop;
  }
}

/** The strategy's side: a DEALER connected to the local orders endpoint. */
export class TestStrategy {
  readonly dealer = new zmq.Dealer({ linger: 0 });
  readonly replies: Record<string, unknown>[] = [];
  /** Monitor events of the strategy's socket, from before its connect. */
  readonly events: string[] = [];
  readonly #loops: Promise<void>;

  constructor(endpoint: string) {
    const watch = (async () => {
      for await (const event of this.dealer.events) this.events.push(event.type);
    })();
    this.dealer.connect(endpoint);
    const read = (async () => {
      for await (const [frame] of this.dealer) {
        this.replies.push(JSON.parse(frame?.toString() ?? "{}") as Record<string, unknown>);
      }
    })();
    this.#loops = Promise.all([watch, read]).then(() => undefined);
  }

  async order(fields: Record<string, unknown>): Promise<void> {
    await this.dealer.send(JSON.stringify(fields));
  }

  async close(): Promise<void> {
    this.dealer.close();
    await this.#loops;
  }
}

/** A valid order for `account`, with extra fields on top. */
export const testOrder = (clientOrderId: string, extra: Record<string, unknown> = {}) => ({
  account: "ACC-1",
  clientOrderId,
  symbol: "ES",
  side: "buy",
  qty: 2,
  type: "limit",
  price: 5000.25,
  ...extra,
});
