/**
 * Exponential backoff with full jitter (a uniformly random wait between 0 and the capped
 * exponential), as AWS's architecture blog recommends for many clients reconnecting to one
 * server: it spreads a thundering herd of runners after an orchestrator restart.
 */
export interface BackoffOptions {
  /** The cap of the first wait. */
  readonly initialMs: number;
  /** No wait is longer than this. */
  readonly maxMs: number;
  /** Growth per attempt. */
  readonly factor?: number;
}

/** The wait before retry number `attempt` (0-based), given a random number in [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions, random: number): number {
  const cap = Math.min(options.maxMs, options.initialMs * (options.factor ?? 2) ** Math.max(0, attempt));
  // Never zero: a tight reconnect loop would burn CPU while the peer is down.
  return Math.max(1, Math.floor(cap * random));
}

/** Sleeps for `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
