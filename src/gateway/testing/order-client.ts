/**
 * Test helpers for the gateway: a runner-like order client (a DEALER, optionally a CURVE client),
 * envelope builders, and the books comparison the tests and the benchmark use.
 */
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { AccountView } from "../gateway-control.ts";
import type { CurveKeyPair } from "../../core/z85.ts";
import type { Order, OrderEnvelope } from "../../protocol/orders/index.ts";

/** A reply frame, parsed. */
export interface Reply {
  readonly type: string;
  readonly account: string;
  readonly clientOrderId: string;
  readonly [field: string]: unknown;
}

/** The envelope a runner would send for `order` as (deploymentId, epoch). */
export function envelope(
  deploymentId: string,
  epoch: bigint | string,
  order: Partial<Order> & { account: string; clientOrderId: string },
): string {
  const full: Order = { symbol: "ESZ6", side: "buy", qty: 1, type: "market", ...order };
  // By hand rather than with stampOrder: tests also send epochs the runner would never stamp.
  return JSON.stringify({
    deploymentId,
    epoch: epoch.toString(),
    account: full.account,
    clientOrderId: full.clientOrderId,
    sentAtUnixMs: Date.now(),
    order: full,
  } satisfies OrderEnvelope);
}

/** A runner's upstream DEALER, collecting every reply. */
export class OrderClient {
  readonly replies: Reply[] = [];
  /** Monitor events of the DEALER (handshake, disconnect, handshake:error:auth, ...), in order. */
  readonly events: string[] = [];
  readonly #dealer: zmq.Dealer;
  readonly #reader: Promise<void>;
  readonly #watcher: Promise<void>;
  #waiters: (() => void)[] = [];
  #failure: HiveError | undefined;

  constructor(address: string, curve?: { serverKey: string; keys: CurveKeyPair }) {
    this.#dealer = new zmq.Dealer({
      linger: 0,
      ...(curve === undefined
        ? {}
        : {
            curveServerKey: curve.serverKey,
            curvePublicKey: curve.keys.publicKey,
            curveSecretKey: curve.keys.secretKey,
          }),
    });
    const dealer = this.#dealer;
    this.#watcher = (async () => {
      for await (const event of dealer.events) this.events.push(event.type);
    })();
    this.#dealer.connect(address);
    this.#reader = this.#read();
  }

  /** Sends one frame. */
  async send(frame: string): Promise<void> {
    await this.#dealer.send(frame);
  }

  /** Sends several orders as one message, a frame each, as a runner sends what it has queued. */
  async sendMany(frames: readonly string[]): Promise<void> {
    await this.#dealer.send([...frames]);
  }

  /** Waits for the first reply (after `from`, an index into `replies`) that `match` accepts. */
  async next(match: (r: Reply) => boolean, timeoutMs = 5_000, from = 0): Promise<Reply> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      const found = this.replies.slice(from).find(match);
      if (found !== undefined) return found;
      const left = deadline - performance.now();
      if (left <= 0) throw new HiveError(ErrorCode.Unavailable, `no matching reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The replies for one client order id, in arrival order. */
  about(clientOrderId: string): Reply[] {
    return this.replies.filter((r) => r.clientOrderId === clientOrderId);
  }

  async close(): Promise<void> {
    this.#dealer.close();
    await Promise.all([this.#reader, this.#watcher]);
  }

  async #read(): Promise<void> {
    try {
      for await (const frames of this.#dealer) {
        // A gateway batch's replies arrive as one message, a frame per reply.
        for (const frame of frames) this.replies.push(JSON.parse(frame.toString()) as Reply);
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const w of waiters) w();
      }
    } catch (err) {
      // The loop ends when the socket is closed; anything else (a reply that is not JSON) is
      // the test's failure, reported by the next wait.
      if (!this.#dealer.closed) this.#failure = HiveError.from(err);
    }
  }
}

/**
 * Compares the gateway's books (positions from the fills it was told of) with the broker's own
 * positions; returns one line per difference (none: the books match).
 */
export function compareBooks(
  gateway: readonly AccountView[],
  broker: Record<string, Record<string, number>>,
): string[] {
  const diffs: string[] = [];
  const accounts = new Set([...gateway.map((a) => a.account), ...Object.keys(broker)]);
  for (const account of accounts) {
    const mine = gateway.find((a) => a.account === account)?.positions ?? {};
    const theirs = broker[account] ?? {};
    for (const symbol of new Set([...Object.keys(mine), ...Object.keys(theirs)])) {
      const a = mine[symbol] ?? 0;
      const b = theirs[symbol] ?? 0;
      if (Math.abs(a - b) > 1e-9) diffs.push(`${account} ${symbol}: gateway ${a}, broker ${b}`);
    }
  }
  return diffs;
}

/** A TCP port free on `host` now (bound and released), for a process that must reuse it after a restart. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
