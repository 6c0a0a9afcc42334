/**
 * The clock for timers that must not follow the wall clock: the runner's lease and self-fencing,
 * the orchestrator's registry and gateway watch.
 * A jump of the wall clock (NTP step, an operator's `date -s`) moves Date.now() but not
 * performance.now(), and Node's timers run on libuv's monotonic clock, so neither delays them.
 * A fake for tests is in testing/fake-clock.ts.
 */

/** Cancels a timer; calling it again, or after the timer fired, does nothing. */
export type CancelTimer = () => void;

/** A monotonic clock and timers on it. */
export interface MonotonicClock {
  /** Milliseconds on a clock that only moves forward (not the Unix epoch). */
  now(): number;
  /** Calls `fire` once, `ms` from now. */
  setTimer(ms: number, fire: () => void): CancelTimer;
}

/** The real one: performance.now() and setTimeout (libuv's monotonic time). */
export const systemClock: MonotonicClock = {
  now: () => performance.now(),
  setTimer(ms, fire) {
    const timer = setTimeout(fire, Math.max(0, ms));
    return () => clearTimeout(timer);
  },
};
