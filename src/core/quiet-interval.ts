/**
 * One log line per key and interval: the first event of a key passes at once, later ones within
 * `intervalMs` of the last that passed are counted, and the next that passes says how many were
 * quiet meanwhile. For events whose rate someone outside sets (a peer reconnecting in a loop, a
 * refused controller retrying), so the log stays readable while the counters stay exact.
 */
export class QuietInterval {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #passed = new Map<string, { at: number; quiet: number }>();

  constructor(intervalMs: number, now: () => number) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** undefined: this event is quiet (counted); else it passes, with the number quiet since the last. */
  pass(key: string): number | undefined {
    const now = this.#now();
    const last = this.#passed.get(key);
    if (last !== undefined && now - last.at < this.#intervalMs) {
      last.quiet += 1;
      return undefined;
    }
    this.#passed.set(key, { at: now, quiet: 0 });
    return last?.quiet ?? 0;
  }
}
