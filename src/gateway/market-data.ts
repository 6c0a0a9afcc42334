/**
 * The gateway's market-data input: one SUB socket, subscribed to every topic, connected to each
 * publisher (feeders bind PUB sockets). A tick is two frames, the symbol (topic, UTF-8) and a JSON
 * object; the price taken is `last`, else `price`, else the mid of `bid` and `ask` (the feeder of
 * examples/programs/feeder.mjs sends `{symbol, seq, ts, bid, ask, last, size}`).
 */
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";

/** The price a tick's JSON object gives, or undefined if it has none. */
export function tickPrice(tick: unknown): number | undefined {
  if (typeof tick !== "object" || tick === null) return undefined;
  const t = tick as Record<string, unknown>;
  const ok = (v: unknown): v is number => typeof v === "number" && v > 0 && Number.isFinite(v);
  if (ok(t.last)) return t.last;
  if (ok(t.price)) return t.price;
  if (ok(t.bid) && ok(t.ask)) return (t.bid + t.ask) / 2;
  return undefined;
}

/** See the file comment. */
export class MarketDataFeed {
  readonly #sub: zmq.Subscriber;
  readonly #sources = new Set<string>();
  readonly #loop: Promise<void>;
  #ticks = 0;
  #bad = 0;

  constructor(
    context: zmq.Context,
    private readonly onTick: (symbol: string, price: number) => void,
    private readonly log: Logger,
    /** The largest frame a publisher may send; a bigger one disconnects it before it is read. */
    maxFrameBytes = -1,
  ) {
    this.#sub = new zmq.Subscriber({
      context,
      linger: 0,
      receiveHighWaterMark: 100_000,
      maxMessageSize: maxFrameBytes,
    });
    this.#sub.subscribe();
    this.#loop = this.#read();
  }

  /** Replaces the set of publishers: connects the new ones, disconnects the ones not listed. */
  setSources(sources: readonly string[]): void {
    const wanted = new Set(sources);
    // Every new address is connected before anything is dropped: one ZeroMQ refuses (an address
    // with no port, say) undoes this call's connects and refuses the whole list, with its reason.
    const added: string[] = [];
    for (const s of wanted) {
      if (this.#sources.has(s)) continue;
      try {
        this.#sub.connect(s);
        added.push(s);
      } catch (err) {
        for (const a of added) this.#sub.disconnect(a);
        throw new HiveError(
          ErrorCode.InvalidArgument,
          `marketData: source ${JSON.stringify(s)}: ZeroMQ cannot connect to it (${HiveError.from(err).message}); expected tcp://host:port`,
          { cause: err },
        );
      }
    }
    for (const s of this.#sources) if (!wanted.has(s)) this.#sub.disconnect(s);
    this.#sources.clear();
    for (const s of wanted) this.#sources.add(s);
    this.log.info({ sources: [...wanted] }, "market data sources set");
  }

  /** The publishers connected now. */
  get sources(): string[] {
    return [...this.#sources];
  }

  /** Ticks used and ticks without a price. */
  figures(): { ticks: number; bad: number } {
    return { ticks: this.#ticks, bad: this.#bad };
  }

  async close(): Promise<void> {
    this.#sub.close();
    await this.#loop;
  }

  async #read(): Promise<void> {
    try {
      for await (const [topic, payload] of this.#sub) {
        let price: number | undefined;
        try {
          price = tickPrice(JSON.parse(payload?.toString() ?? ""));
        } catch {
          price = undefined; // not JSON: counted below as a bad tick (figures().bad)
        }
        if (topic === undefined || price === undefined) {
          this.#bad += 1;
          continue;
        }
        this.#ticks += 1;
        this.onTick(topic.toString(), price);
      }
    } catch (err) {
      if (!this.#sub.closed) this.log.error({ err: HiveError.from(err) }, "market data loop failed");
    }
  }
}
