/**
 * Waits for SIGINT or SIGTERM, the way a daemon should: the first one starts a clean stop, and
 * repeats are absorbed until `release()` (a terminal or `timeout` may deliver one signal twice, to
 * the process and to its group; without a listener the second one would kill it mid-close).
 */
export function waitForStopSignal(): Promise<{ signal: NodeJS.Signals; release: () => void }> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | undefined;
    const on = (s: NodeJS.Signals) => {
      if (first !== undefined) return;
      first = s;
      resolve({
        signal: s,
        release: () => {
          process.off("SIGINT", on);
          process.off("SIGTERM", on);
        },
      });
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}
