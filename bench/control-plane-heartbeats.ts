/**
 * Part 2 of bench/control-plane.bench.ts: one orchestrator (a child process, in-memory store)
 * holding N mock runners that heartbeat every 250 ms. The mock runners live in F "fleet" child
 * processes (bench/mock-fleet.ts), dealt out in turn, so their CPU is not the orchestrator's and
 * no one sender thread saturates; on a small machine they still compete with the orchestrator
 * for the same cores, which is why the fleets' CPU and event-loop delay are reported beside it.
 * With HIVE_BENCH_PROF_DIR set, the orchestrator writes a CPU profile (`node --cpu-prof`) there.
 * With `tls`, the runner link is mutual TLS: a CA made for the run issues the orchestrator's
 * certificate, and each fleet issues one per mock runner before it starts them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { ChildPeer } from "./child-peer.ts";
import type { MockFleetCommand, MockFleetReply } from "./mock-fleet.ts";
import { nodeId } from "./mock-fleet-names.ts";
import {
  bucketDelta,
  bucketQuantile,
  cpuTicks,
  histogram,
  machineBusyTicks,
  memory,
  metricValue,
  parsePrometheus,
  round,
} from "./control-plane-measure.ts";

/** The heartbeat interval the orchestrator hands its runners: 4 heartbeats a second. */
export const HEARTBEAT_MS = 250;
/**
 * Registrations are ramped up this many per this long, each batch spread evenly over its time (as
 * nodes that boot at their own times: their heartbeats fall at every phase of the interval).
 */
export const RAMP = { batch: 200, everyMs: 500 } as const;
/** After the last registration, this long passes before the window opens (the ramp's churn settles). */
export const SETTLE_MS = 2_000;
const FLEET_SCRIPT = resolve("bench/mock-fleet.ts");
/** Fleet processes that hold the mock runners, by default. */
export const DEFAULT_FLEETS = 2;

/** Figures of one run of part 2 (one orchestrator, `runners` mock runners, a window of `seconds`). */
export interface HeartbeatFigures {
  readonly runners: number;
  /** Whether the runner link was mutual TLS (else cleartext on loopback). */
  readonly tls: boolean;
  readonly seconds: number;
  /** From the first registration to every node ready. */
  readonly registerSeconds: number;
  readonly orchestrator: {
    cpuCores: number;
    rssMiB: number;
    peakRssMiB: number;
    /** Its event-loop delay over the window, from its own `nodejs_eventloop_lag_*` (10 ms sampling). */
    loopDelayP99Ms: number;
    loopDelayMaxMs: number;
  };
  /** The fleet processes, which host the mock runners: CPU summed, loop delays the worst fleet's. */
  readonly bench: { fleets: number; cpuCores: number; loopDelayP99Ms: number; loopDelayMaxMs: number };
  /** Busy cores of the whole machine over the window (every process, other work too). */
  readonly machineBusyCores: number;
  readonly heartbeats: { due: number; sent: number; received: number; receivedPerSec: number };
  /** Orchestrator CPU per heartbeat received, microseconds. */
  readonly cpuUsPerHeartbeat: number;
  /** Heartbeats received per second over those due (runners × 4 /s): below 1 when the senders lag. */
  readonly deliveredFraction: number;
  /**
   * The orchestrator's cores had every due heartbeat arrived: CPU per heartbeat × the due rate, a
   * linear extrapolation (its fixed costs are counted as if per heartbeat, so it errs high).
   */
  readonly fullRateCores: number;
  readonly lag: { p50Ms: number; p99Ms: number; overflow: boolean; observed: number };
  /** Node health at the end of the window. */
  readonly nodes: { ready: number; suspect: number; down: number };
}

/** The admin token of the orchestrator started here (read once it answers). */
let adminToken = "";

async function text(url: string): Promise<string> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${adminToken}` } });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

async function nodeHealth(api: string) {
  const nodes = JSON.parse(await text(`${api}/v1/nodes`)) as { health: string }[];
  const count = (h: string) => nodes.filter((n) => n.health === h).length;
  return { ready: count("ready"), suspect: count("suspect"), down: count("down") };
}

/** Starts `hive orchestrator` with the in-memory store; resolves once its API answers (30 s at most). */
async function startOrchestrator(o: {
  runnerPort: number;
  httpPort: number;
  log: string;
  signal: AbortSignal;
  tls?: { ca: string; cert: string; key: string };
}) {
  const fd = openSync(o.log, "a");
  const child = spawn(
    process.execPath,
    [
      ...(process.env.HIVE_BENCH_PROF_DIR
        ? ["--cpu-prof", "--cpu-prof-dir", process.env.HIVE_BENCH_PROF_DIR]
        : []),
      resolve("bin/hive.cjs"),
      "orchestrator",
      "--store",
      "memory:",
      "--runner-listen",
      `127.0.0.1:${o.runnerPort}`,
      "--http-listen",
      `127.0.0.1:${o.httpPort}`,
      "--heartbeat-ms",
      String(HEARTBEAT_MS),
      "--runner-lease-ms",
      "2000",
      "--admin-token-file",
      `${o.log}.admin-token`,
      ...(o.tls ? ["--tls-ca", o.tls.ca, "--tls-cert", o.tls.cert, "--tls-key", o.tls.key] : []),
    ],
    {
      stdio: ["ignore", fd, fd],
      env: { ...process.env, HIVE_LOG_LEVEL: process.env.HIVE_LOG_LEVEL ?? "info" },
    },
  );
  closeSync(fd);
  const api = `http://127.0.0.1:${o.httpPort}`;
  const end = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the orchestrator exited (${child.exitCode}); see ${o.log}`);
    const up = await fetch(`${api}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) {
      adminToken = readFileSync(`${o.log}.admin-token`, "utf8").trim();
      return { child, api, url: `${o.tls ? "https" : "http"}://127.0.0.1:${o.runnerPort}` };
    }
    if (Date.now() > end) throw new Error(`the orchestrator did not answer in 30 s; see ${o.log}`);
    await sleep(100, undefined, { signal: o.signal });
  }
}

/**
 * A CA in `caDir`, the orchestrator's certificate (127.0.0.1) and one per mock runner in
 * `<caDir>/nodes/` (made before the orchestrator starts, so that they do not slow the ramp).
 */
async function makeCertificates(caDir: string, runners: number) {
  const pki = await import("../src/security/pki/index.ts");
  await pki.initClusterCa(caDir);
  const ca = await pki.loadClusterCa(caDir);
  for (let i = 0; i < runners; i++) {
    pki.writeIssued(join(caDir, "nodes", nodeId(i)), await pki.issueNodePem(ca, nodeId(i)));
  }
  const files = pki.writeIssued(join(caDir, "orchestrator"), await pki.issueServerPem(ca, ["127.0.0.1"]));
  return { ca: pki.caPaths(caDir).cert, ...files };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** One run: a fresh orchestrator, `runners` mock runners ramped up, then a window of `seconds`. */
export async function benchHeartbeats(o: {
  runners: number;
  seconds: number;
  fleets: number;
  /** Start each batch of runners at once instead of spread over the ramp's interval. */
  lockstep?: boolean;
  /** The runner link over mutual TLS (a CA made for the run) instead of cleartext. */
  tls?: boolean;
  /** Registrations per interval (default RAMP). */
  ramp?: { readonly batch: number; readonly everyMs: number };
  runnerPort: number;
  httpPort: number;
  clkTck: number;
  signal: AbortSignal;
  progress: (line: string) => void;
}): Promise<HeartbeatFigures> {
  const dir = mkdtempSync(join(tmpdir(), "hive-cph-"));
  const log = join(dir, "orchestrator.log");
  const fleets: ChildPeer<MockFleetCommand, MockFleetReply>[] = [];
  let orchestrator: ChildProcess | undefined;
  try {
    for (let f = 0; f < o.fleets; f++) {
      const fleet = new ChildPeer<MockFleetCommand, MockFleetReply>(`mock fleet ${f}`, FLEET_SCRIPT);
      fleets.push(fleet);
      await fleet.next("ready", 30_000);
    }
    const caDir = join(dir, "ca");
    const tls = o.tls === true ? await makeCertificates(caDir, o.runners) : undefined;
    const started = await startOrchestrator({ ...o, log, signal: o.signal, tls });
    orchestrator = started.child;
    const pid = orchestrator.pid ?? 0;
    const t0 = performance.now();
    const ramp = o.ramp ?? RAMP;
    for (let from = 0, batch = 0; from < o.runners; from += ramp.batch, batch++) {
      if (batch > 0) await sleep(ramp.everyMs, undefined, { signal: o.signal });
      const fleet = fleets[batch % fleets.length] as (typeof fleets)[number];
      const count = Math.min(ramp.batch, o.runners - from);
      const spacingMs = o.lockstep === true ? 0 : ramp.everyMs / ramp.batch;
      await fleet.request(
        { cmd: "add", url: started.url, from, count, spacingMs, caDir: tls ? caDir : undefined },
        "added",
      );
    }
    const end = Date.now() + 60_000;
    for (;;) {
      const health = await nodeHealth(started.api);
      if (health.ready >= o.runners) break;
      if (orchestrator.exitCode !== null) throw new Error(`the orchestrator exited; see ${log}`);
      if (Date.now() > end)
        throw new Error(`only ${health.ready} of ${o.runners} runners ready after 60 s; see ${log}`);
      await sleep(250, undefined, { signal: o.signal });
    }
    const registerSeconds = (performance.now() - t0) / 1000;
    o.progress(
      `heartbeats: ${o.runners} runners ready in ${registerSeconds.toFixed(1)} s; window ${o.seconds} s`,
    );
    await sleep(SETTLE_MS, undefined, { signal: o.signal });

    // The window. Scrapes are outside the CPU readings (the first before, the last after), so
    // the orchestrator's CPU is its heartbeat work, not the cost of rendering /metrics.
    const before = parsePrometheus(await text(`${started.api}/metrics`));
    await Promise.all(fleets.map((f) => f.request({ cmd: "window" }, "window")));
    const w0 = { at: performance.now(), cpu: cpuTicks(pid), machine: machineBusyTicks() };
    await sleep(o.seconds * 1000, undefined, { signal: o.signal });
    const wall = (performance.now() - w0.at) / 1000;
    const cpu = (cpuTicks(pid) - w0.cpu) / o.clkTck;
    const machine = machineBusyTicks();
    const stats = await Promise.all(fleets.map((f) => f.request({ cmd: "stats" }, "stats")));
    const sent = stats.reduce((a, s) => a + s.sent, 0);
    const mem = memory(pid);
    const after = parsePrometheus(await text(`${started.api}/metrics`));
    const health = await nodeHealth(started.api);

    const received =
      metricValue(after, "hive_heartbeats_total") - metricValue(before, "hive_heartbeats_total");
    const lag = bucketDelta(
      histogram(before, "hive_heartbeat_lag_seconds"),
      histogram(after, "hive_heartbeat_lag_seconds"),
    );
    const p50 = bucketQuantile(lag, 0.5);
    const p99 = bucketQuantile(lag, 0.99);
    const mib = (b: number) => round(b / 2 ** 20);
    const due = (o.runners * 1000) / HEARTBEAT_MS; // heartbeats due per second
    return {
      runners: o.runners,
      tls: o.tls === true,
      seconds: round(wall, 2),
      registerSeconds: round(registerSeconds),
      orchestrator: {
        cpuCores: round(cpu / wall, 3),
        rssMiB: mib(mem.rssBytes),
        peakRssMiB: mib(mem.peakBytes),
        // prom-client samples every 10 ms and resets at each scrape: the delay is what exceeds 10 ms.
        loopDelayP99Ms: round(
          Math.max(0, metricValue(after, "nodejs_eventloop_lag_p99_seconds") * 1000 - 10),
        ),
        loopDelayMaxMs: round(
          Math.max(0, metricValue(after, "nodejs_eventloop_lag_max_seconds") * 1000 - 10),
        ),
      },
      bench: {
        fleets: fleets.length,
        cpuCores: round(stats.reduce((a, s) => a + s.cpuSeconds, 0) / wall, 3),
        loopDelayP99Ms: round(Math.max(...stats.map((s) => s.loopDelayP99Ms))),
        loopDelayMaxMs: round(Math.max(...stats.map((s) => s.loopDelayMaxMs))),
      },
      // /proc/stat's first line sums every core, in the same clock ticks as /proc/<pid>/stat.
      machineBusyCores: round((machine - w0.machine) / o.clkTck / wall, 2),
      heartbeats: {
        due: Math.round((o.runners * wall * 1000) / HEARTBEAT_MS),
        sent,
        received,
        receivedPerSec: Math.round(received / wall),
      },
      cpuUsPerHeartbeat: round((cpu * 1e6) / Math.max(1, received)),
      deliveredFraction: round(received / wall / due, 3),
      fullRateCores: round((cpu / Math.max(1, received)) * due, 3),
      lag: {
        p50Ms: round(p50.value * 1000, 2),
        p99Ms: round(p99.value * 1000, 2),
        overflow: p99.overflow,
        observed: lag[lag.length - 1]?.count ?? 0,
      },
      nodes: health,
    };
  } catch (err) {
    const tail = (() => {
      try {
        return readFileSync(log, "utf8").split("\n").slice(-5).join("\n");
      } catch {
        return "";
      }
    })();
    throw new Error(`heartbeats at ${o.runners} runners: ${String(err)}\norchestrator log tail:\n${tail}`, {
      cause: err,
    });
  } finally {
    await Promise.allSettled(fleets.map((f) => f.close()));
    if (orchestrator) await stopChild(orchestrator);
    rmSync(dir, { recursive: true, force: true });
  }
}
