/**
 * The optional metering tap of a market-data bridge: counts, in JavaScript, the messages the
 * route stages receive on the topics the strategy subscribed to, without widening what the
 * remotes send.
 *
 *   stable XSUB ──subscriptions──▶ listener (XPUB)      learns the strategy's topic set
 *   route XPUB (tap endpoint) ──data──▶ tap (one SUB per route stage), subscribed to that set
 *
 * The stable XSUB sends every subscription change to all its peers, so a JavaScript XPUB
 * connected to it learns exactly the de-duplicated union of the local subscribers' topics.
 * The tap subscribes to that set on every route stage's second (inproc) endpoint; a route
 * XPUB's union is then unchanged, so the remotes send nothing more than without the tap.
 *
 * What the counts mean, and when they are not exact:
 *  - messages: whole messages (all frames) that arrived from the route's remotes on the
 *    strategy's topics, i.e. what the stable stage was handed for the strategy;
 *  - bytes: the sum of their frame sizes (ZeroMQ framing not included);
 *  - they undercount when the tap falls behind by more than its high-water mark (the route
 *    XPUB then drops for the tap alone; the strategy's path is never slowed by the tap), and
 *    for a moment after a subscription change (the tap follows within one event-loop turn);
 *  - they do not see messages the stable XPUB drops because the strategy is too slow (ZeroMQ
 *    drops those silently; nothing can count them).
 * Cost: one JavaScript receive per message on the runner's main thread (the one that also
 * forwards orders), so it is off unless asked for; it yields to the event loop every
 * {@link TAP_BATCH} messages so timers and orders are never starved.
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import * as zmq from "zeromq";
import { HiveError } from "../../core/hive-error.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import { commonSocketOptions } from "./socket-options.ts";

/** Messages the tap counts before it yields to the event loop. */
export const TAP_BATCH = 256;

/** Counts what a bridge's route stages receive; see the file comment for what the counts mean. */
export class MeteringTap {
  #messages = 0;
  #bytes = 0;
  readonly #highWaterMark: number;
  readonly #log: PostOfficeLog;
  readonly #label: string;
  readonly #listener: zmq.XPublisher;
  readonly #follow: Promise<void>;
  /** The strategy's topics as the listener last heard them. */
  readonly #topics = new Map<string, Buffer>();
  /** One SUB per route stage, by tap endpoint, with its counting loop. */
  readonly #taps = new Map<string, { sub: zmq.Subscriber; loop: Promise<void> }>();

  constructor(stableEndpoint: string, highWaterMark: number, log: PostOfficeLog, label: string) {
    this.#highWaterMark = highWaterMark;
    this.#log = log;
    this.#label = label;
    this.#listener = new zmq.XPublisher(commonSocketOptions(highWaterMark));
    this.#listener.connect(stableEndpoint);
    this.#follow = this.#followSubscriptions();
  }

  /** Whole messages counted so far. */
  get messages(): number {
    return this.#messages;
  }

  /** Frame bytes counted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Starts counting what the route stage bound at `tapEndpoint` receives. Each stage gets a SUB
   * of its own, connected before its receive loop starts: with zeromq.js 6.8, an inproc connect
   * made while a receive is already pending on a SUB delivered nothing in our tests.
   */
  attach(tapEndpoint: string): void {
    const { context, linger, receiveHighWaterMark } = commonSocketOptions(this.#highWaterMark);
    const sub = new zmq.Subscriber({ context, linger, receiveHighWaterMark });
    for (const topic of this.#topics.values()) sub.subscribe(topic);
    sub.connect(tapEndpoint);
    this.#taps.set(tapEndpoint, { sub, loop: this.#count(sub) });
  }

  /** Stops counting a route stage; call before the stage stops. */
  async detach(tapEndpoint: string): Promise<void> {
    const tap = this.#taps.get(tapEndpoint);
    if (tap === undefined) return;
    this.#taps.delete(tapEndpoint);
    tap.sub.close();
    await tap.loop;
  }

  /** Closes every socket and waits for every loop to end. */
  async close(): Promise<void> {
    await Promise.all([...this.#taps.keys()].map((endpoint) => this.detach(endpoint)));
    this.#listener.close();
    await this.#follow;
  }

  /** Mirrors the strategy's subscriptions onto the taps: ZeroMQ sends 0x01 topic / 0x00 topic. */
  async #followSubscriptions(): Promise<void> {
    try {
      for await (const [frame] of this.#listener) {
        if (frame === undefined || frame.length === 0) continue;
        const topic = Buffer.from(frame.subarray(1));
        const key = topic.toString("latin1");
        if (frame[0] === 1) this.#topics.set(key, topic);
        else if (frame[0] === 0) this.#topics.delete(key);
        else continue;
        for (const { sub } of this.#taps.values()) {
          if (frame[0] === 1) sub.subscribe(topic);
          else sub.unsubscribe(topic);
        }
      }
    } catch (err) {
      if (!this.#listener.closed) {
        this.#log.warn({ route: this.#label, err: HiveError.from(err) }, "metering tap stopped following");
      }
    }
  }

  async #count(sub: zmq.Subscriber): Promise<void> {
    try {
      let batch = 0;
      for await (const frames of sub) {
        this.#messages += 1;
        for (const frame of frames) this.#bytes += frame.length;
        if (++batch === TAP_BATCH) {
          batch = 0;
          await yieldToEventLoop();
        }
      }
    } catch (err) {
      if (!sub.closed)
        this.#log.warn({ route: this.#label, err: HiveError.from(err) }, "metering tap stopped");
    }
  }
}
