/**
 * How long an order may have waited in the runner's queue before the order loop read it. ZeroMQ
 * does not timestamp messages, so the age is bounded from above instead: every order the loop
 * reads arrived after the last moment the strategy's queue was seen empty (`caughtUpAt`), so its
 * age is at most `now − caughtUpAt`. The queue is seen empty by the loop itself (before it waits
 * for the next order) and by a tick every `maxAgeMs / 4` while the loop waits, so that a path idle
 * for minutes does not count its next order as minutes old.
 *
 * When the runner's main thread stalls (GC, CPU starvation, SIGSTOP), neither runs: the first
 * orders read afterwards carry a bound as long as the stall, and are refused (`queued-too-long`)
 * once it passes `maxAgeMs`. Under a backlog the runner cannot drain within `maxAgeMs`, orders are
 * refused the same way until it has caught up: what leaves the node is never older than the bound
 * (give or take one tick). Everything runs on a monotonic clock.
 */
import type { CancelTimer, MonotonicClock } from "../../core/monotonic-clock.ts";

/** The default bound of an order's wait in the runner's queue (runner config `maxOrderQueueMs`). */
export const DEFAULT_MAX_ORDER_QUEUE_MS = 500;

/** The upper bound of the queue's age; see the file comment. */
export class QueueWatch {
  readonly #clock: MonotonicClock;
  readonly #maxAgeMs: number;
  readonly #isEmpty: () => boolean;
  readonly #tickMs: number;
  #caughtUpAt: number;
  #cancel: CancelTimer | undefined;
  #closed = false;

  /**
   * Starts watching now (the queue counts as caught up now). `isEmpty` says whether the queue
   * has nothing to read at this instant.
   */
  constructor(clock: MonotonicClock, maxAgeMs: number, isEmpty: () => boolean) {
    this.#clock = clock;
    this.#maxAgeMs = maxAgeMs;
    this.#isEmpty = isEmpty;
    this.#tickMs = Math.max(1, maxAgeMs / 4);
    this.#caughtUpAt = clock.now();
    this.#schedule();
  }

  /** The bound, in ms. */
  get maxAgeMs(): number {
    return this.#maxAgeMs;
  }

  /** The queue is empty now (the loop is about to wait for the next order). */
  caughtUp(): void {
    this.#caughtUpAt = this.#clock.now();
  }

  /** Whether an order read at monotonic time `now` may have waited longer than the bound. */
  tooOld(now: number): boolean {
    return now - this.#caughtUpAt > this.#maxAgeMs;
  }

  /** The bound on the age of an order read at `now` (ms). */
  ageBoundMs(now: number): number {
    return now - this.#caughtUpAt;
  }

  /** Stops the tick. */
  close(): void {
    this.#closed = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#cancel = this.#clock.setTimer(this.#tickMs, () => {
      this.#cancel = undefined;
      if (this.#closed) return;
      // Only an empty queue moves the mark: orders waiting now keep the age they have.
      if (this.#isEmpty()) this.#caughtUpAt = this.#clock.now();
      this.#schedule();
    });
  }
}
