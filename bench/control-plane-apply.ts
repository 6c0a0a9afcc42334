/**
 * Part 1 of bench/control-plane.bench.ts: apply-to-running of a 20-service layout on a real
 * orchestrator (embedded SQLite store) and three real runners (separate processes, cgroups as
 * deployed), against the floor of spawning the same 20 commands directly with child_process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { DevCluster, type DevNode } from "../src/dev/dev-cluster.ts";
import type { LayoutView } from "../src/orchestrator/control-plane.ts";
import { round, summary } from "./control-plane-measure.ts";
import { destroyCgroupParent } from "../src/runner/cgroups/index.ts";

/** How often the layout is polled after the POST: the resolution of the measurement. */
export const POLL_MS = 10;
const LAYOUT = "cp-bench";
const FEEDERS = 4;
const STRATEGIES = 8;
const BACKTESTS = 8;
const SERVICES = FEEDERS + STRATEGIES + BACKTESTS;
/** How long a running layout is left before its health is checked and it is stopped (not timed). */
const HOLD_MS = 500;

/** Figures of part 1. */
export interface ApplyFigures {
  readonly services: number;
  readonly runners: readonly string[];
  readonly repeats: number;
  readonly pollMs: number;
  /** The first apply on the fresh cluster, not counted in the repeats. */
  readonly coldMs: number;
  /** POST → first poll that sees `state: running`, per repeat. */
  readonly applyToRunningMs: readonly number[];
  /** POST → first poll where every deployment is `running` (before the routes are acknowledged). */
  readonly allDeploymentsRunningMs: readonly number[];
  /** POST → its answer (validated, placed, stored). */
  readonly postAnsweredMs: readonly number[];
  /** DELETE → the first poll that finds the layout gone (its processes stopped). */
  readonly stopMs: readonly number[];
  /** The same 20 commands spawned with child_process until each emitted 'spawn'. */
  readonly baselineMs: readonly number[];
  /** Checked HOLD_MS after each layout was seen running: restarts, deployments no longer running. */
  readonly afterHold: { readonly holdMs: number; readonly restarts: number; readonly notRunning: string[] };
}

const ZEROMQ = createRequire(import.meta.url).resolve("zeromq");
const FEEDER = resolve("examples/programs/feeder.mjs");
// A small strategy that consumes market data until SIGTERM (CommonJS for `node -e`; argv[1] is
// the path of the zeromq package, which an inline script cannot resolve by name from any cwd).
const STRATEGY = [
  "const zmq = require(process.argv[1]);",
  "const sub = new zmq.Subscriber();",
  "sub.connect(process.env.HIVE_SOCKET_MARKET_DATA);",
  "sub.subscribe();",
  'process.once("SIGTERM", () => sub.close());',
  "(async () => { let n = 0; for await (const _ of sub) n++; })();",
].join(" ");

/** One command of the layout, as the runner gets it and as the baseline spawns it. */
interface Command {
  readonly service: string;
  readonly command: string;
  readonly args: readonly string[];
}

function commands(): Command[] {
  const out: Command[] = [];
  for (let i = 1; i <= FEEDERS; i++) {
    out.push({
      service: `feeder-${i}`,
      command: process.execPath,
      args: [FEEDER, "--symbols", `SYM${i}`, "--rate", "5"],
    });
  }
  for (let i = 1; i <= STRATEGIES; i++) {
    out.push({ service: `strategy-${i}`, command: process.execPath, args: ["-e", STRATEGY, ZEROMQ] });
  }
  for (let i = 1; i <= BACKTESTS; i++) {
    out.push({ service: `backtest-${i}`, command: "/bin/sleep", args: ["600"] });
  }
  return out;
}

/** Strategy i consumes the market data of feeder ((i - 1) mod 4) + 1. */
const feederOf = (strategy: number) => ((strategy - 1) % FEEDERS) + 1;

/** The layout: 4 feeders and 8 strategies on the live pool, 8 backtests on the backtest pool. */
function layoutSource(): string {
  const resources = { cores: 0.1, memory: "32MiB" };
  const services = commands().map((c) => {
    const kind = c.service.replace(/-\d+$/, "");
    const common = { name: c.service, kind, command: c.command, args: [...c.args], resources };
    if (kind === "feeder")
      return { ...common, pool: "live", sockets: { offers: [{ name: "market_data", pattern: "pub" }] } };
    if (kind === "strategy")
      return { ...common, pool: "live", sockets: { consumes: [{ name: "market_data", pattern: "sub" }] } };
    return { ...common, pool: "backtest" };
  });
  const wires = Array.from({ length: STRATEGIES }, (_, k) => ({
    from: `feeder-${feederOf(k + 1)}.market_data`,
    to: `strategy-${k + 1}.market_data`,
  }));
  return stringify({ name: LAYOUT, description: "bench:control-plane", services, wires });
}

function nodes(base: number): DevNode[] {
  return [
    { id: "cpb-live-1", pool: "live", tags: ["live_node"], ports: { first: base, last: base + 29 } },
    { id: "cpb-live-2", pool: "live", tags: ["live_node"], ports: { first: base + 30, last: base + 59 } },
    { id: "cpb-data-1", pool: "backtest", tags: ["data_node"], ports: { first: base + 60, last: base + 89 } },
  ];
}

/** Spawns the 20 commands at once; resolves with the time until the last 'spawn' event. */
async function baseline(base: number): Promise<number> {
  const children: ChildProcess[] = [];
  try {
    const t0 = performance.now();
    const started: Promise<unknown>[] = [];
    for (const c of commands()) {
      const n = Number(/\d+$/.exec(c.service)?.[0]);
      const env = { ...process.env };
      if (c.service.startsWith("feeder")) env.HIVE_PORT_MARKET_DATA = String(base + 90 + n);
      if (c.service.startsWith("strategy"))
        env.HIVE_SOCKET_MARKET_DATA = `tcp://127.0.0.1:${base + 90 + feederOf(n)}`;
      const child = spawn(c.command, c.args, { stdio: "ignore", env });
      children.push(child);
      started.push(once(child, "spawn"));
    }
    await Promise.all(started);
    return performance.now() - t0;
  } finally {
    await stopAll(children);
  }
}

/** SIGTERM to each child, SIGKILL to those still there after 5 s; resolves when all have exited. */
async function stopAll(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** A small client of the orchestrator's HTTP API. */
class Api {
  constructor(
    private readonly url: string,
    /** The admin's Authorization header, once the cluster made its token. */
    private readonly auth: () => Record<string, string>,
  ) {}

  async post(source: string): Promise<void> {
    const res = await fetch(`${this.url}/v1/layouts`, {
      method: "POST",
      headers: { "content-type": "application/json", ...this.auth() },
      body: JSON.stringify({ source, file: "cp-bench.yaml" }),
    });
    if (!res.ok) throw new Error(`POST /v1/layouts: ${res.status} ${await res.text()}`);
    await res.body?.cancel();
  }

  /** The layout, or undefined once it is gone (404). */
  async layout(): Promise<LayoutView | undefined> {
    const res = await fetch(`${this.url}/v1/layouts/${LAYOUT}`, { headers: this.auth() });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) throw new Error(`GET /v1/layouts/${LAYOUT}: ${res.status} ${await res.text()}`);
    return (await res.json()) as LayoutView;
  }

  async delete(): Promise<void> {
    const res = await fetch(`${this.url}/v1/layouts/${LAYOUT}`, { method: "DELETE", headers: this.auth() });
    if (!res.ok) throw new Error(`DELETE /v1/layouts/${LAYOUT}: ${res.status} ${await res.text()}`);
    await res.body?.cancel();
  }
}

/** One apply: POST, then poll every POLL_MS until the layout is running (30 s at most). */
async function applyOnce(api: Api, source: string, signal: AbortSignal) {
  const t0 = performance.now();
  await api.post(source);
  const postAnswered = performance.now() - t0;
  let allRunning: number | undefined;
  for (let polls = 0; ; polls++) {
    signal.throwIfAborted();
    const pollStart = performance.now();
    const view = await api.layout();
    const at = performance.now() - t0;
    const deployments = view?.deployments ?? [];
    if (allRunning === undefined && deployments.length >= SERVICES) {
      if (deployments.every((d) => d.phase === "running")) allRunning = at;
    }
    if (view?.state === "running") return { postAnswered, allRunning: allRunning ?? at, running: at };
    if (at > 30_000 || polls > 10_000) {
      const stuck = deployments.filter((d) => d.phase !== "running");
      throw new Error(
        `${LAYOUT} not running after ${Math.round(at)} ms (state ${view?.state}); not running: ` +
          stuck.map((d) => `${d.service} ${d.phase} ${d.pendingReason ?? ""}`).join(", "),
      );
    }
    await sleep(Math.max(0, POLL_MS - (performance.now() - pollStart)), undefined, { signal });
  }
}

/** Deployments not running, and restarts, some time after the layout was seen running. */
async function unhealthy(api: Api, signal: AbortSignal): Promise<{ notRunning: string[]; restarts: number }> {
  await sleep(HOLD_MS, undefined, { signal });
  const view = await api.layout();
  const deployments = view?.deployments ?? [];
  return {
    notRunning: deployments.filter((d) => d.phase !== "running").map((d) => `${d.service}: ${d.phase}`),
    restarts: deployments.reduce((a, d) => a + d.restarts, 0),
  };
}

/**
 * Stops the layout; resolves with the time from the DELETE to the first poll (every POLL_MS) that
 * finds it gone, 20 s at most. (The DELETE itself answers once the stop is recorded.)
 */
async function stopLayout(api: Api, signal: AbortSignal): Promise<number> {
  const t0 = performance.now();
  await api.delete();
  for (;;) {
    const pollStart = performance.now();
    if ((await api.layout()) === undefined) return performance.now() - t0;
    if (performance.now() - t0 > 20_000) throw new Error(`${LAYOUT} still there 20 s after its DELETE`);
    await sleep(Math.max(0, POLL_MS - (performance.now() - pollStart)), undefined, { signal });
  }
}

/** Ends whatever the runners left in their cgroups (they should leave nothing); the groups removed. */
async function removeCgroups(nodeIds: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const id of nodeIds)
    for (const g of await destroyCgroupParent(`hive-${id}`)) removed.push(`hive-${id}/${g}`);
  return removed;
}

/**
 * Runs part 1: a cold apply, then `repeats` rounds of (baseline spawn; apply, measure, DELETE,
 * wait until gone), side by side so both see the same noise. Everything is stopped and removed at
 * the end, on failure too.
 */
export async function benchApply(o: {
  repeats: number;
  runnerPort: number;
  httpPort: number;
  signal: AbortSignal;
  progress: (line: string) => void;
}): Promise<ApplyFigures> {
  // Runner port ranges per bench process, below the kernel's ephemeral ports (32768+) and clear of
  // the ranges the tests use (20000-22099, 23000 and up).
  const base = 12_000 + (process.pid % 50) * 100;
  const dir = mkdtempSync(join(tmpdir(), "hive-cpb-"));
  const cluster = new DevCluster({ dir, runnerPort: o.runnerPort, httpPort: o.httpPort, nodes: nodes(base) });
  let failure: string | undefined;
  cluster.onChildExit = (name, code, log) => (failure = `${name} exited (code ${code}); see ${log}`);
  const api = new Api(cluster.apiUrl, () => cluster.authHeaders());
  const source = layoutSource();
  const figures = {
    applyToRunningMs: [] as number[],
    allDeploymentsRunningMs: [] as number[],
    postAnsweredMs: [] as number[],
    stopMs: [] as number[],
    baselineMs: [] as number[],
  };
  const afterHold = { holdMs: HOLD_MS, restarts: 0, notRunning: [] as string[] };
  try {
    await cluster.start();
    await cluster.waitReady(60_000);
    o.progress(`apply: cluster ready (orchestrator + ${nodes(base).length} runners); cold apply`);
    const cold = await applyOnce(api, source, o.signal);
    await stopLayout(api, o.signal);
    for (let i = 0; i < o.repeats; i++) {
      if (failure) throw new Error(failure);
      figures.baselineMs.push(await baseline(base));
      const r = await applyOnce(api, source, o.signal);
      figures.applyToRunningMs.push(r.running);
      figures.allDeploymentsRunningMs.push(r.allRunning);
      figures.postAnsweredMs.push(r.postAnswered);
      const health = await unhealthy(api, o.signal);
      afterHold.restarts += health.restarts;
      afterHold.notRunning.push(...health.notRunning);
      figures.stopMs.push(await stopLayout(api, o.signal));
      o.progress(`apply: repeat ${i + 1}/${o.repeats}: ${Math.round(r.running)} ms`);
    }
    if (failure) throw new Error(failure);
    const ms = (xs: number[]) => xs.map((x) => round(x));
    return {
      services: SERVICES,
      runners: nodes(base).map((n) => `${n.id} (${n.pool})`),
      repeats: o.repeats,
      pollMs: POLL_MS,
      coldMs: round(cold.running),
      applyToRunningMs: ms(figures.applyToRunningMs),
      allDeploymentsRunningMs: ms(figures.allDeploymentsRunningMs),
      postAnsweredMs: ms(figures.postAnsweredMs),
      stopMs: ms(figures.stopMs),
      baselineMs: ms(figures.baselineMs),
      afterHold,
    };
  } finally {
    await cluster.close();
    const left = await removeCgroups(nodes(base).map((n) => n.id));
    if (left.length > 0) o.progress(`apply: removed cgroups the runners left: ${left.join(", ")}`);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** p50 and max of part 1's series, and the ratio to the baseline. */
export function applySummary(f: ApplyFigures) {
  const cp = summary(f.applyToRunningMs);
  const base = summary(f.baselineMs);
  return {
    controlPlane: cp,
    allDeploymentsRunning: summary(f.allDeploymentsRunningMs),
    postAnswered: summary(f.postAnsweredMs),
    stop: summary(f.stopMs),
    baseline: base,
    ratioP50: round(cp.p50 / base.p50),
  };
}
