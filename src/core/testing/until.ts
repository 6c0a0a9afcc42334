/**
 * Polls a probe until it yields a value, for tests that wait on something another process or
 * loop does. Bounded: it throws after `ms`, naming what it waited for.
 */

/** Resolves with the first value of `probe` other than undefined and false, polling every `everyMs`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 10_000,
  everyMs = 20,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
