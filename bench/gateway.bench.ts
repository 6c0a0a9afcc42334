/**
 * npm run bench:gateway [-- --json] [--orders N] [--rounds N] [--rate ORDERS_PER_S] [--latency-ms MS]
 *                       [--orders-per-message N] [--nodes N] [--binding-only] [--no-binding]
 *
 * The broker gateway with its checks against the same gateway in pass-through mode, side by side
 * in one run:
 *
 *   pass-through  load ──tcp──▶ ROUTER ─▶ paper broker (its state committed per batch) ─▶ replies
 *   fencing       load ──tcp──▶ ROUTER ─▶ envelope check, fence, dedupe, kill, risk, audit rows,
 *                                         books ─▶ paper broker (same transaction) ─▶ replies
 *
 * and, for the throughput only, the floors of bench/gateway-floor.ts in the same rounds: the same
 * load against a server that only parses each envelope and replies (no fence, no broker, no
 * storage), and one that answers canned replies. On a machine whose cores the load shares, they
 * are the ceiling of the figure.
 *
 * Both gateways run in this process, each on its own state directory (SQLite, WAL,
 * synchronous=FULL: one fsync per batch in both), without CURVE (the cost of encryption is the
 * same for both and not what is measured). The load is a child process (bench/gateway-peer.ts),
 * as a runner is. Every order is a market order that fills, so each gets two replies (ack, fill).
 * The variants take turns, round after round; throughput is the median of `--rounds` runs,
 * latency pools every round's samples.
 *
 * - throughput: N orders sent as fast as ZeroMQ takes them, `--orders-per-message` (default 64)
 *   to a message as a runner sends what its strategies queued; rate = N / (last fill − first send);
 *   CPU per order = the CPU time (user + system, every thread: ZeroMQ's I/O thread, SQLite, the
 *   WAL checkpointer) the serving process spent during the flood and 0.5 s after it (the
 *   checkpointer's copy of what it wrote) / N — the bench process, where only the flooded server
 *   works meanwhile — and the same for the load process (/proc/<pid>/stat);
 * - latency: orders at a fixed rate for `--latency-ms` per round; round trip = ack received −
 *   order sent (process.hrtime, in the load process); the first 10% of each run are warm-up.
 *   "Added" is fencing − pass-through at each percentile.
 *
 * Then the node binding (docs/gateway.md, "Orders bound to a node"), with CURVE on both sides, in
 * the same rounds: `--nodes` load processes (default 2), each a node with its own key trading its
 * own account, flooding at once:
 *
 *   unbound  every node ──CURVE──▶ the shared orders ROUTER; fences name no node
 *   bound    each node ──CURVE──▶ its own ROUTER (ZAP domain node:<key>); fences name its key,
 *            and every order's node is checked against the fence's
 *
 * rate = all orders / (last final reply − first send, over the nodes); the ratio bound / unbound
 * is the target (≥ 0.95). `--binding-only` runs this part alone; `--no-binding` skips it (for
 * quick rounds while profiling the gateway).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import * as zmq from "zeromq";
import { GatewayClient } from "../src/gateway/control-client.ts";
import { startGateway, type RunningGateway } from "../src/gateway/gateway-server.ts";
import { startFloor, type FloorKind, type FloorServer } from "./gateway-floor.ts";
import type { PeerCurve } from "./gateway-peer.ts";
import { GatewayPeer } from "./gateway-peers.ts";
import { clockTicks, cpuTicks } from "./control-plane-measure.ts";
import { percentile } from "./stats.ts";

interface Args {
  json: boolean;
  orders: number;
  rounds: number;
  rate: number;
  latencyMs: number;
  perMessage: number;
  nodes: number;
  bindingOnly: boolean;
  noBinding: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    json: false,
    orders: 100_000,
    rounds: 3,
    rate: 5_000,
    latencyMs: 2_000,
    perMessage: 64,
    nodes: 2,
    bindingOnly: false,
    noBinding: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => Number(argv[++i]);
    if (a === "--json") args.json = true;
    else if (a === "--orders") args.orders = next();
    else if (a === "--rounds") args.rounds = next();
    else if (a === "--rate") args.rate = next();
    else if (a === "--latency-ms") args.latencyMs = next();
    else if (a === "--orders-per-message") args.perMessage = next();
    else if (a === "--nodes") args.nodes = next();
    else if (a === "--binding-only") args.bindingOnly = true;
    else if (a === "--no-binding") args.noBinding = true;
    else throw new Error(`unknown argument ${a}; see the comment at the top of bench/gateway.bench.ts`);
  }
  return args;
}

const ACCOUNT = "BENCH";
const DEPLOYMENT = "bench";
const EPOCH = "1";
/** Limits that never bind: the bench measures the checks, not refusals. */
const NO_LIMITS = {
  maxOrderAgeMs: 0, // a backlog under full load must not turn into refusals: the bench measures the checks
  risk: { default: { maxOrderQty: 1e9, maxNotional: 1e15, maxOrdersPerSecond: 1e9, duplicativeWindowMs: 0 } },
};

/** How long after a flood its CPU time is still counted (the WAL checkpointer's rounds). */
const SETTLE_MS = 500;

type Variant = "passThrough" | "fencing";
const VARIANTS: readonly Variant[] = ["passThrough", "fencing"];
const FLOORS: readonly FloorKind[] = ["parse", "echo"];
type Target = Variant | FloorKind;

function latencyFigures(samplesUs: readonly number[]) {
  const s = [...samplesUs].sort((a, b) => a - b);
  return {
    samples: s.length,
    p50Us: percentile(s, 0.5),
    p99Us: percentile(s, 0.99),
    p999Us: percentile(s, 0.999),
    maxUs: s.at(-1) ?? Number.NaN,
  };
}
type Lat = ReturnType<typeof latencyFigures>;

async function startVariant(dir: string, variant: Variant): Promise<RunningGateway> {
  const gw = await startGateway({
    stateDir: join(dir, variant),
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    insecure: true,
    passThrough: variant === "passThrough",
    config: NO_LIMITS,
  });
  const control = new GatewayClient({ address: gw.controlAddress });
  try {
    const fenced = await control.fence(ACCOUNT, DEPLOYMENT, BigInt(EPOCH));
    if (!fenced.ok) throw new Error(`bench: fence refused: ${fenced.reason}`);
  } finally {
    await control.close();
  }
  gw.setPrice("ESZ6", 100);
  return gw;
}

/** The two gateways of the node-binding comparison, and the nodes' keys. */
interface BindingSetup {
  readonly unbound: RunningGateway;
  readonly bound: RunningGateway;
  readonly nodes: { keys: { publicKey: string; secretKey: string }; account: string; boundPort: number }[];
}

async function startBinding(dir: string, nodes: number): Promise<BindingSetup> {
  const orchestrator = zmq.curveKeyPair();
  const keys = Array.from({ length: nodes }, () => zmq.curveKeyPair());
  const start = (variant: "unbound" | "bound") =>
    startGateway({
      stateDir: join(dir, variant),
      ordersListen: "tcp://127.0.0.1:0",
      controlListen: "tcp://127.0.0.1:0",
      keyPair: zmq.curveKeyPair(),
      orchestratorKeys: [orchestrator.publicKey],
      unboundOrderKeys: variant === "unbound" ? keys.map((k) => k.publicKey) : [],
      config: NO_LIMITS,
    });
  const unbound = await start("unbound");
  const bound = await start("bound");
  const out: BindingSetup["nodes"] = [];
  for (const [i, k] of keys.entries()) {
    const account = `${ACCOUNT}-${i}`;
    let boundPort = 0;
    for (const gw of [unbound, bound]) {
      const control = new GatewayClient({
        address: gw.controlAddress,
        serverKey: gw.publicKey ?? "",
        keys: orchestrator,
      });
      try {
        const r = await control.fence(
          account,
          DEPLOYMENT,
          BigInt(EPOCH),
          gw === bound ? k.publicKey : undefined,
        );
        if (!r.ok) throw new Error(`bench: fence refused: ${r.reason}`);
        if (gw === bound) boundPort = r.ordersPort ?? 0;
      } finally {
        await control.close();
      }
    }
    out.push({ keys: k, account, boundPort });
  }
  for (const gw of [unbound, bound]) gw.setPrice("ESZ6", 100);
  return { unbound, bound, nodes: out };
}

/** Every node floods its account at once; the rate over all of them. */
async function floodNodes(
  setup: BindingSetup,
  peers: readonly GatewayPeer[],
  variant: "unbound" | "bound",
  prefix: string,
  n: number,
  perMessage: number,
) {
  const gw = setup[variant];
  const runs = await Promise.all(
    setup.nodes.map((node, i) => {
      const curve: PeerCurve = { serverKey: gw.publicKey ?? "", ...node.keys };
      const address = variant === "bound" ? `tcp://127.0.0.1:${node.boundPort}` : gw.ordersAddress;
      const peer = peers[i];
      if (peer === undefined) throw new Error(`bench: no load process for node ${i}`);
      return peer.request(
        {
          cmd: "flood",
          address,
          curve,
          n,
          prefix: `${prefix}-${i}`,
          // Longer than the other floods': two nodes share the cores with the gateway.
          quietMs: 10_000,
          perMessage,
          deploymentId: DEPLOYMENT,
          epoch: EPOCH,
          account: node.account,
        },
        "flooded",
        120_000,
      );
    }),
  );
  const done = runs;
  const first = done.reduce(
    (m, r) => (BigInt(r.firstSendNs) < m ? BigInt(r.firstSendNs) : m),
    BigInt(done[0]?.firstSendNs ?? 0),
  );
  const last = done.reduce((m, r) => (BigInt(r.lastFinalNs) > m ? BigInt(r.lastFinalNs) : m), 0n);
  const finals = done.reduce((s, r) => s + r.finals, 0);
  const rejects: Record<string, number> = {};
  for (const r of done)
    for (const [code, k] of Object.entries(r.rejects)) rejects[code] = (rejects[code] ?? 0) + k;
  return {
    ordersPerSec: finals / (Number(last - first) / 1e9),
    lost: done.reduce((s, r) => s + r.sent - r.finals, 0),
    rejects,
  };
}

/** The node-binding comparison: throughput of the two variants, taking turns, round after round. */
async function bindingRounds(dir: string, args: Args, say: (line: string) => void) {
  const setup = await startBinding(dir, args.nodes);
  const peers: GatewayPeer[] = [];
  try {
    for (let i = 0; i < args.nodes; i++) peers.push(await GatewayPeer.start());
    const variants = ["unbound", "bound"] as const;
    say(
      `node binding: warm-up, then ${args.rounds} rounds of ${args.nodes} nodes × ${args.orders} orders per variant...`,
    );
    for (const v of variants) await floodNodes(setup, peers, v, `bw-${v}`, 20_000, args.perMessage);
    const runs: Record<(typeof variants)[number], Awaited<ReturnType<typeof floodNodes>>[]> = {
      unbound: [],
      bound: [],
    };
    for (let round = 0; round < args.rounds; round++)
      for (const v of variants)
        runs[v].push(await floodNodes(setup, peers, v, `b${round}-${v}`, args.orders, args.perMessage));
    const med = (xs: number[]) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        0.5,
      );
    const unbound = med(runs.unbound.map((r) => r.ordersPerSec));
    const bound = med(runs.bound.map((r) => r.ordersPerSec));
    // The two variants of one round ran back to back: their ratio sees the same machine.
    const perRound = runs.bound.map((r, i) => r.ordersPerSec / (runs.unbound[i]?.ordersPerSec ?? Number.NaN));
    return {
      nodes: args.nodes,
      unbound,
      bound,
      ratio: bound / unbound,
      roundRatios: perRound,
      medianRoundRatio: med(perRound),
      runs,
      wrongNode: setup.bound.status().rejected["wrong-node"] ?? 0,
      boundAccepted: setup.bound.status().accepted,
      admittedNodes: setup.bound.status().admittedNodes,
    };
  } finally {
    for (const p of peers) await p.close();
    await setup.unbound.close();
    await setup.bound.close();
  }
}

type Binding = Awaited<ReturnType<typeof bindingRounds>>;

function printBinding(b: Binding, c: Args): void {
  const n = (x: number, digits = 0) =>
    x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const row = (cells: string[]) => cells.map((x, i) => (i === 0 ? x.padEnd(40) : x.padStart(17))).join("");
  const lost = (v: "unbound" | "bound") => b.runs[v].reduce((s, r) => s + r.lost, 0);
  const rejects = (v: "unbound" | "bound") =>
    b.runs[v].reduce((s, r) => s + Object.values(r.rejects).reduce((a, k) => a + k, 0), 0);
  const lines = [
    "",
    `node binding: ${b.nodes} nodes flooding at once, CURVE on both, fencing gateway, loopback`,
    "",
    row(["", "unbound", "bound", "bound vs unbound"]),
    row([
      `throughput orders/s (median of ${c.rounds}, ${c.perMessage}/msg)`,
      n(b.unbound),
      n(b.bound),
      `${n(b.ratio * 100, 1)}%`,
    ]),
    row(["  bound / unbound per round, median", "", "", `${n(b.medianRoundRatio * 100, 1)}%`]),
    row(["  orders without a final reply", n(lost("unbound")), n(lost("bound")), ""]),
    row(["  orders rejected", n(rejects("unbound")), n(rejects("bound")), ""]),
    "",
    `bound gateway: ${n(b.boundAccepted)} orders accepted, ${b.wrongNode} refused wrong-node, ${b.admittedNodes} node sockets`,
    `target bindingRatio >= 0.95 (bound / unbound throughput): ${b.ratio >= 0.95 ? "met" : "NOT met"}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.bindingOnly) {
    const dir = mkdtempSync(join(tmpdir(), "hive-gw-bench-"));
    try {
      const say = (line: string) => {
        if (!args.json) process.stderr.write(`${line}\n`);
      };
      const binding = await bindingRounds(dir, args, say);
      if (args.json) process.stdout.write(`${JSON.stringify({ binding })}\n`);
      else printBinding(binding, args);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const say = (line: string) => {
    if (!args.json) process.stderr.write(`${line}\n`);
  };
  const dir = mkdtempSync(join(tmpdir(), "hive-gw-bench-"));
  const started = Date.now();
  const gateways = new Map<Variant, RunningGateway>();
  const floors = new Map<FloorKind, FloorServer>();
  let peer: GatewayPeer | undefined;
  try {
    for (const v of VARIANTS) gateways.set(v, await startVariant(dir, v));
    for (const f of FLOORS) floors.set(f, await startFloor(f));
    peer = await GatewayPeer.start();
    const load = peer;
    const common = { deploymentId: DEPLOYMENT, epoch: EPOCH, account: ACCOUNT };
    const address = (v: Target) =>
      (v === "parse" || v === "echo" ? floors.get(v)?.address : gateways.get(v)?.ordersAddress) ?? "";
    const ticks = clockTicks().perSec;
    const loadPid = load.pid;
    const flood = async (v: Target, prefix: string, n: number) => {
      const serverBefore = process.cpuUsage();
      const loadBefore = loadPid === undefined ? Number.NaN : cpuTicks(loadPid);
      const r = await load.request(
        {
          cmd: "flood",
          address: address(v),
          n,
          prefix,
          quietMs: 3_000,
          perMessage: args.perMessage,
          ...common,
        },
        "flooded",
        120_000,
      );
      // The WAL checkpointer's worker copies what the flood wrote within its next rounds (every
      // 250 ms): let it, so that its work is counted here and not in the next server's flood.
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const server = process.cpuUsage(serverBefore);
      const loadUs = loadPid === undefined ? Number.NaN : ((cpuTicks(loadPid) - loadBefore) * 1e6) / ticks;
      const seconds = Number(BigInt(r.lastFinalNs) - BigInt(r.firstSendNs)) / 1e9;
      return {
        ordersPerSec: r.finals / seconds,
        lost: r.sent - r.finals,
        rejects: r.rejects,
        cpuUsPerOrder: (server.user + server.system) / r.sent,
        loadCpuUsPerOrder: loadUs / r.sent,
      };
    };

    const servers: readonly Target[] = [...VARIANTS, ...FLOORS];
    say("warm-up: 20,000 orders per variant and floor...");
    for (const v of servers) await flood(v, `warm-${v}`, 20_000);

    say(`throughput: ${args.rounds} rounds of ${args.orders} orders per variant and floor...`);
    const runs: Record<Target, Flood[]> = {
      passThrough: [],
      fencing: [],
      parse: [],
      echo: [],
    };
    for (let round = 0; round < args.rounds; round++)
      for (const v of servers) runs[v].push(await flood(v, `t${round}-${v}`, args.orders));

    say(`latency: ${args.rounds} rounds of ${args.latencyMs} ms at ${args.rate} orders/s per variant...`);
    const samples: Record<Variant, number[]> = { passThrough: [], fencing: [] };
    let lost = 0;
    for (let round = 0; round < args.rounds; round++) {
      for (const v of VARIANTS) {
        const r = await load.request(
          {
            cmd: "paced",
            address: address(v),
            rate: args.rate,
            ms: args.latencyMs,
            prefix: `l${round}-${v}`,
            ...common,
          },
          "paced",
          args.latencyMs + 30_000,
        );
        lost += r.lost;
        samples[v].push(...r.samplesUs.slice(Math.floor(r.samplesUs.length / 10)));
      }
    }

    const binding = args.noBinding ? undefined : await bindingRounds(dir, args, say);
    const median = (xs: number[]) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        0.5,
      );
    const pass = latencyFigures(samples.passThrough);
    const fence = latencyFigures(samples.fencing);
    const fencing = gateways.get("fencing");
    const paper = fencing?.paper?.figures();
    const figures = {
      config: {
        ...args,
        cpus: availableParallelism(),
        node: process.version,
        libzmq: zmq.version,
        uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
      },
      throughput: {
        passThrough: median(runs.passThrough.map((r) => r.ordersPerSec)),
        fencing: median(runs.fencing.map((r) => r.ordersPerSec)),
        floors: {
          parse: median(runs.parse.map((r) => r.ordersPerSec)),
          echo: median(runs.echo.map((r) => r.ordersPerSec)),
        },
        runs,
        ratio:
          median(runs.fencing.map((r) => r.ordersPerSec)) /
          median(runs.passThrough.map((r) => r.ordersPerSec)),
        // Fencing / parse floor in each round (flooded back to back: the same machine), median.
        floorRatio: median(
          runs.fencing.map((r, i) => r.ordersPerSec / (runs.parse[i]?.ordersPerSec ?? Number.NaN)),
        ),
        passThroughFloorRatio: median(
          runs.passThrough.map((r, i) => r.ordersPerSec / (runs.parse[i]?.ordersPerSec ?? Number.NaN)),
        ),
        cpuUsPerOrder: Object.fromEntries(
          servers.map((v) => [v, median(runs[v].map((r) => r.cpuUsPerOrder))]),
        ) as Record<Target, number>,
        loadCpuUsPerOrder: Object.fromEntries(
          servers.map((v) => [v, median(runs[v].map((r) => r.loadCpuUsPerOrder))]),
        ) as Record<Target, number>,
      },
      latency: {
        passThrough: pass,
        fencing: fence,
        addedP50Us: fence.p50Us - pass.p50Us,
        addedP99Us: fence.p99Us - pass.p99Us,
        p99Ratio: fence.p99Us / pass.p99Us,
        p50Ratio: fence.p50Us / pass.p50Us,
        lost,
      },
      checks: {
        fencingAccepted: fencing?.status().accepted ?? 0,
        fencingRejected: fencing?.status().rejected ?? {},
        brokerDuplicateSubmissions: paper?.duplicateSubmissions ?? Number.NaN,
        replyDrops: [...gateways.values()].reduce((n, g) => n + g.replyDrops(), 0),
      },
      binding,
      elapsedSec: (Date.now() - started) / 1000,
    };
    const targets: Record<string, { target: string; met: boolean }> = {
      fencingOrdersPerSec: { target: ">= 100,000", met: figures.throughput.fencing >= 100_000 },
      floorRatio: {
        target: ">= 0.8 (fencing / parse floor throughput, per round, median)",
        met: figures.throughput.floorRatio >= 0.8,
      },
      p50Ratio: { target: "<= 1.2 (fencing p50 / pass-through p50)", met: figures.latency.p50Ratio <= 1.2 },
      p99Ratio: { target: "<= 1.05 (fencing p99 / pass-through p99)", met: figures.latency.p99Ratio <= 1.05 },
    };
    if (binding !== undefined)
      targets.bindingRatio = { target: ">= 0.95 (bound / unbound throughput)", met: binding.ratio >= 0.95 };
    if (args.json) process.stdout.write(`${JSON.stringify({ ...figures, targets })}\n`);
    else {
      printTable(figures, targets);
      if (binding !== undefined) printBinding(binding, args);
    }
  } finally {
    await peer?.close();
    for (const f of floors.values()) await f.close();
    for (const g of gateways.values()) await g.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One flood's figures. */
interface Flood {
  ordersPerSec: number;
  lost: number;
  rejects: Record<string, number>;
  /** CPU time of the serving process (this one) during the flood, per order sent. */
  cpuUsPerOrder: number;
  /** CPU time of the load process during the flood, per order sent. */
  loadCpuUsPerOrder: number;
}

interface Figures {
  config: Args & { cpus: number; node: string; libzmq: string; uvThreadpoolSize: number };
  throughput: {
    passThrough: number;
    fencing: number;
    floors: Record<FloorKind, number>;
    ratio: number;
    floorRatio: number;
    passThroughFloorRatio: number;
    cpuUsPerOrder: Record<Target, number>;
    loadCpuUsPerOrder: Record<Target, number>;
    runs: Record<Target, { lost: number }[]>;
  };
  latency: {
    passThrough: Lat;
    fencing: Lat;
    addedP50Us: number;
    addedP99Us: number;
    p99Ratio: number;
    p50Ratio: number;
    lost: number;
  };
  checks: { fencingAccepted: number; brokerDuplicateSubmissions: number; replyDrops: number };
  elapsedSec: number;
}

function printTable(f: Figures, targets: Record<string, { target: string; met: boolean }>): void {
  const n = (x: number, digits = 0) =>
    x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${n(x, 1)}`;
  const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(40) : c.padStart(17))).join("");
  const c = f.config;
  const t = f.throughput;
  const l = f.latency;
  const lostOf = (v: Target) => t.runs[v].reduce((s, r) => s + r.lost, 0);
  const latencyRow = (label: string, key: keyof Lat) =>
    row([label, n(l.passThrough[key], 1), n(l.fencing[key], 1), signed(l.fencing[key] - l.passThrough[key])]);
  const lines = [
    `gateway: market orders (ack + fill each), loopback, no CURVE, ${c.cpus} cpus, node ${c.node}, libzmq ${c.libzmq}`,
    "",
    row(["", "pass-through", "fencing", "fencing vs pass"]),
    row([
      `throughput orders/s (median of ${c.rounds}, ${c.perMessage}/msg)`,
      n(t.passThrough),
      n(t.fencing),
      `${n(t.ratio * 100, 1)}%`,
    ]),
    row(["  orders without a final reply", n(lostOf("passThrough")), n(lostOf("fencing")), ""]),
    row([
      "  floor: parse + reply, nothing else",
      "",
      n(t.floors.parse),
      `${n((t.fencing / t.floors.parse) * 100, 1)}%`,
    ]),
    row(["  floor: canned replies", "", n(t.floors.echo), `${n((t.fencing / t.floors.echo) * 100, 1)}%`]),
    row(["  orders without a final reply (floors)", "", n(lostOf("parse") + lostOf("echo")), ""]),
    row([
      "  / parse floor per round, median",
      `${n(t.passThroughFloorRatio * 100, 1)}%`,
      `${n(t.floorRatio * 100, 1)}%`,
      "",
    ]),
    row(["CPU µs per order (median of the rounds)", "", "", ""]),
    row([
      "  serving process, all threads",
      n(t.cpuUsPerOrder.passThrough, 1),
      n(t.cpuUsPerOrder.fencing, 1),
      signed(t.cpuUsPerOrder.fencing - t.cpuUsPerOrder.passThrough),
    ]),
    row([
      "  floor: parse + reply",
      "",
      n(t.cpuUsPerOrder.parse, 1),
      signed(t.cpuUsPerOrder.fencing - t.cpuUsPerOrder.parse),
    ]),
    row([
      "  floor: canned replies",
      "",
      n(t.cpuUsPerOrder.echo, 1),
      signed(t.cpuUsPerOrder.fencing - t.cpuUsPerOrder.echo),
    ]),
    row([
      "  load process (parse, echo floors)",
      n(t.loadCpuUsPerOrder.passThrough, 1),
      n(t.loadCpuUsPerOrder.fencing, 1),
      `${n(t.loadCpuUsPerOrder.parse, 1)}, ${n(t.loadCpuUsPerOrder.echo, 1)}`,
    ]),
    row([`round trip @ ${n(c.rate)} orders/s (n=${n(l.fencing.samples)})`, "", "", "added"]),
    latencyRow("  p50 µs", "p50Us"),
    latencyRow("  p99 µs", "p99Us"),
    latencyRow("  p99.9 µs", "p999Us"),
    row(["  max µs", n(l.passThrough.maxUs, 1), n(l.fencing.maxUs, 1), ""]),
    row(["  p50 fencing / pass-through", "", "", n(l.p50Ratio, 3)]),
    row(["  p99 fencing / pass-through", "", "", n(l.p99Ratio, 3)]),
    "",
    `fencing gateway: ${n(f.checks.fencingAccepted)} orders accepted; broker duplicate submissions ` +
      `${f.checks.brokerDuplicateSubmissions}; replies dropped ${f.checks.replyDrops}; latency orders lost ${l.lost}`,
    "",
    ...Object.entries(targets).map(([k, v]) => `target ${k} ${v.target}: ${v.met ? "met" : "NOT met"}`),
    `elapsed ${n(f.elapsedSec, 1)} s`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
