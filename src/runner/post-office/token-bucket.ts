/**
 * The rate limit at the source (the layout's `limits.ordersPerSecond` and `limits.orderBurst`):
 * a token bucket on a monotonic clock. It holds at most `burst` tokens, starts full, and refills
 * at `ordersPerSecond`; each order forwarded takes one, an order that finds none is refused
 * (`rate-limited`) without taking any. Refilling is computed from the time elapsed at each take,
 * so there is no timer; a jump of the wall clock neither refills nor drains it.
 */

/** A deployment's order rate limit. */
export interface OrderRateLimit {
  /** Orders per second, sustained (above zero). */
  readonly ordersPerSecond: number;
  /** Orders that may go at once after a quiet spell (a whole number, at least 1). */
  readonly burst: number;
}

/** A token bucket; see the file comment. */
export class TokenBucket {
  readonly limit: OrderRateLimit;
  readonly #perMs: number;
  #tokens: number;
  #at: number;

  /** A full bucket at monotonic time `now` (ms). */
  constructor(limit: OrderRateLimit, now: number) {
    this.limit = limit;
    this.#perMs = limit.ordersPerSecond / 1_000;
    this.#tokens = limit.burst;
    this.#at = now;
  }

  /** Takes one token at monotonic time `now` (ms): true if there was one. */
  take(now: number): boolean {
    // A clock read earlier than the last one (it never goes back, but be exact) refills nothing.
    if (now > this.#at) {
      this.#tokens = Math.min(this.limit.burst, this.#tokens + (now - this.#at) * this.#perMs);
      this.#at = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Tokens in the bucket as of the last take (for tests and metrics). */
  get tokens(): number {
    return this.#tokens;
  }
}
