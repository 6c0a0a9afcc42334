/**
 * The thread the post office's market-data relays run on (relay-thread.ts starts it, through
 * relay-worker-entry.mjs): requests come in from the runner's main thread, each answered once;
 * logs go back as messages; counters are written to shared memory the main thread reads.
 *
 * A thread of its own so that market data never waits for the runner's main thread (a spawn, a
 * heartbeat, a route update, a garbage collection there) and the main thread never pays for it.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { parentPort } from "node:worker_threads";
import { assertNever } from "../../core/assert-never.ts";
import { MarketDataRelay } from "./market-data-relay.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import type { RelayReply, RelayRequest } from "./relay-protocol.ts";

const port = parentPort;
if (port === null) throw new HiveError(ErrorCode.Internal, "relay-worker.ts runs on a worker thread only");

/**
 * Relays by id, as the promise of their opening: a request for a relay waits until it is open
 * (requests are answered in any order, so a route may arrive while the open still listens).
 */
const relays = new Map<number, Promise<MarketDataRelay>>();

function logFor(relay: number): PostOfficeLog {
  const send = (level: "info" | "warn" | "error") => (fields: Record<string, unknown>, message: string) =>
    port?.postMessage({ type: "log", relay, level, fields, message } satisfies RelayReply);
  return { info: send("info"), warn: send("warn"), error: send("error") };
}

async function handle(request: RelayRequest): Promise<void> {
  switch (request.op) {
    case "open": {
      const opening = MarketDataRelay.open({
        path: request.path,
        highWaterMark: request.highWaterMark,
        limits: request.limits,
        label: request.label,
        log: logFor(request.relay),
        counters: new Float64Array(request.counters),
      }).then(async (relay) => {
        try {
          relay.setRemotes(request.remotes);
        } catch (err) {
          await relay.close(); // a route refused: not left listening with nobody to close it
          throw err;
        }
        return relay;
      });
      relays.set(request.relay, opening);
      try {
        await opening;
      } catch (err) {
        relays.delete(request.relay);
        throw err;
      }
      return;
    }
    case "route": {
      const relay = relays.get(request.relay);
      if (relay === undefined)
        throw new HiveError(ErrorCode.NotFound, `relay ${request.relay} is not open on this thread`);
      (await relay).setRemotes(request.remotes);
      return;
    }
    case "close": {
      const relay = relays.get(request.relay);
      relays.delete(request.relay);
      // A relay that failed to open has nothing to close.
      await (await relay?.catch(() => undefined))?.close();
      return;
    }
    default:
      assertNever(request);
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
