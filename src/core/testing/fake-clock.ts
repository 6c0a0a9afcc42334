/** A monotonic clock that moves only when a test says so, for lease and self-fencing tests. */
import type { CancelTimer, MonotonicClock } from "../monotonic-clock.ts";

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

/** A {@link MonotonicClock} driven by {@link FakeClock.advance}. */
export class FakeClock implements MonotonicClock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<Timer>();

  constructor(start = 1_000) {
    this.#now = start;
  }

  /** The clock's time. */
  now(): number {
    return this.#now;
  }

  /** Registers a timer that fires when the clock reaches now + ms. */
  setTimer(ms: number, fire: () => void): CancelTimer {
    const timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fire };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }

  /** Timers not yet fired nor cancelled. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves the clock forward by `ms`, firing every timer that falls due, in time order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = [...this.#timers]
        .filter((t) => t.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers.delete(due);
      this.#now = Math.max(this.#now, due.at);
      due.fire();
    }
    this.#now = end;
  }
}
