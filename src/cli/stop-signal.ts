/**
 * Waits for a reason to stop, the way a daemon should: SIGINT, SIGTERM, SIGHUP (the terminal it
 * ran in was closed), or, for a daemon started by `hive dev` (which gives each child an IPC
 * channel), the end of its parent: a `hive dev` that was killed outright must not leave its
 * cluster running. The first one starts a clean stop, and repeats are absorbed until `release()`
 * (a terminal or `timeout` may deliver one signal twice, to the process and to its group; without
 * a listener the second one would kill it mid-close).
 */
export function waitForStopSignal(): Promise<{ signal: string; release: () => void }> {
  return new Promise((resolve) => {
    let first: string | undefined;
    const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
    const on = (s: string) => {
      if (first !== undefined) return;
      first = s;
      resolve({
        signal: s,
        release: () => {
          for (const signal of signals) process.off(signal, on);
          process.off("disconnect", onParentGone);
        },
      });
    };
    const onParentGone = () => on("parent exited");
    for (const signal of signals) process.on(signal, on);
    if (process.channel) {
      // The channel must not keep the daemon alive; its closing is all that is listened for.
      process.channel.unref();
      process.on("disconnect", onParentGone);
    }
  });
}
