/**
 * A share of the mock runners of bench/control-plane-heartbeats.ts, as its own process: the
 * parent starts two or more of these so that the senders' event loops are not one saturated
 * thread (a sender's delay between stamping a heartbeat and writing it counts in the lag).
 * Driven over the IPC channel (bench/child-peer.ts):
 *
 * - add: start `count` mock runners numbered from `from`, connecting to `url` (with the node
 *   certificate `<caDir>/nodes/<id>.crt` and key each, for https://), one every
 *   `spacingMs` (a fleet whose nodes start together would heartbeat in step, 2,000 at once each
 *   interval: real nodes boot at their own times, so their heartbeats fall at every phase);
 * - window: reset the counters and start sampling this process's event-loop delay;
 * - stats: what was sent, the CPU used and the loop delay since `window`;
 * - exit: close every mock runner and exit.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { FakeRunner } from "../src/runner/testing/fake-runner.ts";
import { join } from "node:path";
import { nodeId } from "./mock-fleet-names.ts";
import { caPaths, readTlsFiles, type TlsMaterial } from "../src/security/pki/index.ts";

/** A command from the parent. */
export type MockFleetCommand =
  | {
      readonly cmd: "add";
      readonly url: string;
      readonly from: number;
      readonly count: number;
      readonly spacingMs: number;
      /** A CA directory: each mock runner gets a node certificate from it (mutual TLS). */
      readonly caDir?: string;
    }
  | { readonly cmd: "window" }
  | { readonly cmd: "stats" }
  | { readonly cmd: "exit" };

/** A reply to the parent. */
export type MockFleetReply =
  | { readonly type: "ready" }
  | { readonly type: "added" }
  | { readonly type: "window" }
  | {
      readonly type: "stats";
      readonly sent: number;
      /** CPU of this process since `window`, seconds. */
      readonly cpuSeconds: number;
      readonly loopDelayP99Ms: number;
      readonly loopDelayMaxMs: number;
    }
  | { readonly type: "error"; readonly message: string };

/** The sampling interval of the event-loop delay histogram. */
const LOOP_SAMPLE_MS = 10;

const mocks: FakeRunner[] = [];
const starting = new Set<NodeJS.Timeout>();
const loop = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
let window = { sent: 0, cpu: process.cpuUsage() };

const sent = () => mocks.reduce((a, m) => a + m.heartbeatsSent, 0);
const reply = (r: MockFleetReply) => process.send?.(r);

function add(url: string, from: number, count: number, spacingMs: number, caDir?: string): void {
  const certs: (TlsMaterial | undefined)[] = [];
  if (caDir !== undefined) {
    for (let k = 0; k < count; k++) {
      const base = join(caDir, "nodes", nodeId(from + k));
      certs.push(readTlsFiles({ ca: caPaths(caDir).cert, cert: `${base}.crt`, key: `${base}.key` }));
    }
  }
  for (let k = 0; k < count; k++) {
    const timer = setTimeout(() => {
      starting.delete(timer);
      start(url, from + k, certs[k]);
    }, k * spacingMs);
    starting.add(timer);
  }
}

function start(url: string, i: number, tls: TlsMaterial | undefined): void {
  const live = i % 7 === 0; // about 15% live nodes, as the scheduler benchmark's clusters
  const mock = new FakeRunner({
    tls,
    nodeId: nodeId(i),
    pool: live ? "live" : "backtest",
    tags: live ? ["live_node", "low_latency"] : ["data_node"],
    urls: [url],
  });
  mocks.push(mock);
  mock.start();
}

process.on("message", (c: MockFleetCommand) => {
  try {
    switch (c.cmd) {
      case "add":
        add(c.url, c.from, c.count, c.spacingMs, c.caDir);
        reply({ type: "added" });
        break;
      case "window":
        window = { sent: sent(), cpu: process.cpuUsage() };
        loop.reset();
        loop.enable();
        reply({ type: "window" });
        break;
      case "stats": {
        loop.disable();
        const cpu = process.cpuUsage(window.cpu);
        // The histogram holds whole sampling intervals: the delay is what exceeds the interval.
        const delay = (ns: number) => Math.max(0, ns / 1e6 - LOOP_SAMPLE_MS);
        reply({
          type: "stats",
          sent: sent() - window.sent,
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
          loopDelayP99Ms: delay(loop.percentile(99)),
          loopDelayMaxMs: delay(loop.max),
        });
        break;
      }
      case "exit":
        for (const t of starting) clearTimeout(t);
        void Promise.allSettled(mocks.map((m) => m.close())).then(() => process.exit(0));
        break;
    }
  } catch (err) {
    reply({ type: "error", message: String(err) });
  }
});
// Alone, a fleet stops with its parent.
process.on("disconnect", () => process.exit(0));
reply({ type: "ready" });
