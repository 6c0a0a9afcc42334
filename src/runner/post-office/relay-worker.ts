/**
 * The thread the post office's market-data relays run on (relay-host.ts starts it, through
 * relay-worker-entry.mjs): requests come in from the runner's main thread, each answered once;
 * logs go back as messages; counters are written to shared memory the main thread reads.
 *
 * A thread of its own so that market data never waits for the runner's main thread (a spawn, a
 * heartbeat, a route update, a garbage collection there) and the main thread never pays for it.
 */
import { parentPort } from "node:worker_threads";
import { MarketDataRelay } from "./market-data-relay.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import type { RelayReply, RelayRequest } from "./relay-protocol.ts";

const port = parentPort;
if (port === null) throw new Error("relay-worker.ts runs on a worker thread only");

const relays = new Map<number, MarketDataRelay>();

function logFor(relay: number): PostOfficeLog {
  const send = (level: "info" | "warn" | "error") => (fields: Record<string, unknown>, message: string) =>
    port?.postMessage({ type: "log", relay, level, fields, message } satisfies RelayReply);
  return { info: send("info"), warn: send("warn"), error: send("error") };
}

async function handle(request: RelayRequest): Promise<void> {
  switch (request.op) {
    case "open": {
      const relay = await MarketDataRelay.open({
        path: request.path,
        highWaterMark: request.highWaterMark,
        label: request.label,
        log: logFor(request.relay),
        counters: new Float64Array(request.counters),
      });
      relays.set(request.relay, relay);
      relay.setRemotes(request.remotes);
      return;
    }
    case "route":
      relays.get(request.relay)?.setRemotes(request.remotes);
      return;
    case "close": {
      const relay = relays.get(request.relay);
      relays.delete(request.relay);
      await relay?.close();
      return;
    }
  }
}

port.on("message", (request: RelayRequest) => {
  handle(request).then(
    () => port.postMessage({ type: "done", id: request.id } satisfies RelayReply),
    (err: unknown) =>
      port.postMessage({
        type: "failed",
        id: request.id,
        message: err instanceof Error ? err.message : String(err),
      } satisfies RelayReply),
  );
});
port.postMessage({ type: "ready" } satisfies RelayReply);
