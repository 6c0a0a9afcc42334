/**
 * The gateway of bench/gateway-soak.bench.ts, in its own process so its resident memory is its
 * own: `startGateway` on the state directory the parent pre-filled (its time measured here, the
 * process's boot not included), then answers `sample` with its memory and status until `exit`.
 * A sample runs a full garbage collection first, so its heap is what the gateway keeps alive, not
 * what the collector has not reclaimed yet.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { startGateway, type RunningGateway } from "../src/gateway/gateway-server.ts";
import type { GatewayConfigInput } from "../src/gateway/gateway-config.ts";
import type { GatewayStatus } from "../src/gateway/gateway-control.ts";

/** A command from the parent. */
export type SoakChildCommand =
  | {
      readonly cmd: "start";
      readonly stateDir: string;
      readonly config: GatewayConfigInput;
      readonly prices: Record<string, number>;
    }
  | { readonly cmd: "sample" }
  | { readonly cmd: "exit" };

/** A reply to the parent. */
export type SoakChildReply =
  | { readonly type: "ready" }
  | {
      readonly type: "started";
      readonly startMs: number;
      readonly ordersAddress: string;
      readonly controlAddress: string;
      readonly rssBytes: number;
    }
  | {
      readonly type: "sample";
      readonly rssBytes: number;
      /** After a full collection: what the gateway keeps alive. */
      readonly heapUsedBytes: number;
      readonly status: GatewayStatus;
      /** Whether the gateway's loop has failed (it stops on a failed batch). */
      readonly failed: string | null;
    }
  | { readonly type: "error"; readonly message: string };

// The collector, for the samples (the same as node --expose-gc, without changing the fork's flags).
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function reply(r: SoakChildReply): void {
  process.send?.(r);
}

let gateway: RunningGateway | undefined;
let failed: string | null = null;

async function start(c: Extract<SoakChildCommand, { cmd: "start" }>): Promise<void> {
  const t0 = performance.now();
  const gw = await startGateway({
    stateDir: c.stateDir,
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    insecure: true,
    config: c.config,
  });
  const startMs = performance.now() - t0;
  gateway = gw;
  gw.failure.catch((err: unknown) => {
    failed = String(err);
  });
  for (const [symbol, price] of Object.entries(c.prices)) gw.setPrice(symbol, price);
  reply({
    type: "started",
    startMs,
    ordersAddress: gw.ordersAddress,
    controlAddress: gw.controlAddress,
    rssBytes: process.memoryUsage().rss,
  });
}

process.on("message", (command: SoakChildCommand) => {
  const run = async () => {
    switch (command.cmd) {
      case "start":
        return start(command);
      case "sample": {
        gc();
        const m = process.memoryUsage();
        if (gateway === undefined) throw new Error("sample before start");
        return reply({
          type: "sample",
          rssBytes: m.rss,
          heapUsedBytes: m.heapUsed,
          status: gateway.status(),
          failed,
        });
      }
      case "exit":
        await gateway?.close();
        process.exit(0);
    }
  };
  run().catch((err: unknown) => reply({ type: "error", message: String(err) }));
});
reply({ type: "ready" });
