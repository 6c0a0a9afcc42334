/**
 * How long an order may have waited in the runner's queue before the order loop read it. ZeroMQ
 * does not timestamp messages, so the age is bounded from above instead: every order the loop
 * reads arrived after the last moment the loop was known to be waiting on an empty queue with a
 * responsive thread (`caughtUpAt`), so its age is at most `now − caughtUpAt`. That moment is
 * marked by the loop itself (it found the queue empty and is about to wait: `caughtUp`) and, while
 * it waits, by a tick every `maxAgeMs / 4` that fires on time: a thread that runs its timers on
 * time delivers a waiting receive its message at once, so an idle path does not count its next
 * order as minutes old. The tick never asks the socket (reading ZMQ_EVENTS while a receive is
 * pending can swallow the edge its poller waits for); it only asks whether the loop is waiting.
 *
 * When the runner's main thread stalls (GC, CPU starvation, SIGSTOP), the tick fires late (or not
 * at all) and marks nothing: the first orders read afterwards carry a bound as long as the stall,
 * and are refused (`queued-too-long`) once it passes `maxAgeMs`. Under a backlog the runner cannot
 * drain within `maxAgeMs`, orders are refused the same way until it has caught up. Everything
 * runs on a monotonic clock.
 */
import type { CancelTimer, MonotonicClock } from "../../core/monotonic-clock.ts";

/** The default bound of an order's wait in the runner's queue (runner config `maxOrderQueueMs`). */
export const DEFAULT_MAX_ORDER_QUEUE_MS = 500;

/** The upper bound of the queue's age; see the file comment. */
export class QueueWatch {
  readonly #clock: MonotonicClock;
  readonly #maxAgeMs: number;
  readonly #tickMs: number;
  #caughtUpAt: number;
  /** Whether the loop is waiting for an order on an empty queue. */
  #waiting = false;
  #cancel: CancelTimer | undefined;
  #closed = false;

  /** Starts watching now (the queue counts as caught up now). */
  constructor(clock: MonotonicClock, maxAgeMs: number) {
    this.#clock = clock;
    this.#maxAgeMs = maxAgeMs;
    this.#tickMs = Math.max(1, maxAgeMs / 4);
    this.#caughtUpAt = clock.now();
    this.#schedule();
  }

  /** The queue is empty now, and the loop is about to wait for the next order. */
  caughtUp(): void {
    this.#caughtUpAt = this.#clock.now();
    this.#waiting = true;
  }

  /** The loop has an order in hand (its wait is over): the tick marks nothing until it waits again. */
  reading(): void {
    this.#waiting = false;
  }

  /** Whether an order read at monotonic time `now` may have waited longer than the bound. */
  tooOld(now: number): boolean {
    return this.ageBoundMs(now) > this.#maxAgeMs;
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
    const due = this.#clock.now() + this.#tickMs;
    this.#cancel = this.#clock.setTimer(this.#tickMs, () => {
      this.#cancel = undefined;
      if (this.#closed) return;
      const now = this.#clock.now();
      // Late by more than a tick: the thread stalled, and orders may wait behind this timer.
      if (this.#waiting && now - due <= this.#tickMs) this.#caughtUpAt = now;
      this.#schedule();
    });
  }
}
