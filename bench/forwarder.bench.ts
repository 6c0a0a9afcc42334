/**
 * npm run bench:forwarder [-- --json] [--messages N] [--size BYTES] [--rate MSGS_PER_S]
 *                         [--latency-ms MS] [--changes N] [--rounds N]
 *
 * The post office's market-data path against a direct connection, side by side in one run:
 *
 *   direct     feeder PUB ──tcp──▶ strategy SUB
 *   one proxy  feeder PUB ──tcp──▶ XSUB ═ native proxy ═ XPUB ──ipc──▶ strategy SUB
 *   through    feeder PUB ──tcp──▶ post office (market-data relay, on its thread) ──ipc──▶ strategy SUB
 *
 * "one proxy" is a reference, not a design: libzmq's own forwarder (zmq_proxy), which cannot
 * change its remotes without being restarted, which disconnects the strategy.
 *
 * Processes: the post office runs in this process, as in a runner; each feeder and each strategy
 * is a child process (bench/forwarder-peer.ts), as in production, where they are separate
 * programs. The variants take turns on the same feeder, never at the same time (the feeder would
 * publish to all of them), round after round; throughput is the median of `--rounds` runs of
 * each, latency pools the samples of every round.
 *
 * - throughput: the feeder sends N messages (topic + `size`-byte payload) as fast as it can;
 *   rate = messages received / (last receive − first send), so the pipeline is counted whole;
 * - latency: the feeder sends at a fixed rate for `--latency-ms` per round, each payload stamped with
 *   process.hrtime (CLOCK_MONOTONIC, shared by the processes); one-way = receive − send; the
 *   first 10% of samples are dropped as warm-up. "Added" is through − direct at each percentile;
 * - paired latency: the through strategy's process also subscribes directly to the feeder, so
 *   each message is received both ways by one process, and through − direct is taken per
 *   message: the hop's own cost, without the difference between two rounds' noise (a stall of
 *   the receiving process delays both copies); its percentiles are those of that difference;
 * - route change: feeders A and B both publish at the fixed rate; the route is moved between
 *   them `--changes` times; time from the applyRoutes call to the first message of the new
 *   feeder at the strategy; the strategy's SUB monitor must show no reconnect;
 * - counters: the post office's count of messages written to the strategy over the throughput
 *   runs, against what the strategy received.
 *
 * Every phase is bounded in time; the whole run takes about 80 s on two cores.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as zmq from "zeromq";
import { localEndpoint } from "../src/layout/routing.ts";
import { PostOffice } from "../src/runner/post-office/index.ts";
import { Peer } from "./forwarder-peers.ts";
import { percentile } from "./stats.ts";

interface Args {
  json: boolean;
  messages: number;
  size: number;
  rate: number;
  latencyMs: number;
  changes: number;
  rounds: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    json: false,
    messages: 200_000,
    size: 64,
    rate: 10_000,
    latencyMs: 1500,
    changes: 20,
    rounds: 5,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => Number(argv[++i]);
    if (a === "--json") args.json = true;
    else if (a === "--messages") args.messages = next();
    else if (a === "--size") args.size = next();
    else if (a === "--rate") args.rate = next();
    else if (a === "--latency-ms") args.latencyMs = next();
    else if (a === "--changes") args.changes = next();
    else if (a === "--rounds") args.rounds = next();
    else throw new Error(`unknown argument ${a}; see the comment at the top of bench/forwarder.bench.ts`);
  }
  return args;
}

const DEPLOYMENT = "bench";
const SOCKET = "market_data";

function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

function latencyFigures(samplesUs: readonly number[]) {
  const kept = [...samplesUs].sort((a, b) => a - b);
  return {
    samples: kept.length,
    p50Us: percentile(kept, 0.5),
    p99Us: percentile(kept, 0.99),
    p999Us: percentile(kept, 0.999),
    maxUs: kept.at(-1) ?? Number.NaN,
  };
}

/** Routes the bench deployment's market data to `remotes` on `po`. */
function route(po: PostOffice, runDir: string, deploymentId: string, remotes: string[]): Promise<void> {
  return po.applyRoutes({
    upserts: [
      {
        deploymentId,
        socket: SOCKET,
        pattern: "sub",
        local: localEndpoint(runDir, deploymentId, SOCKET),
        remotes,
      },
    ],
    removals: [],
  });
}

/** Waits until a probe from `feeder` reaches `strategy`: the subscription is in place end to end. */
async function warm(feeder: Peer, strategy: Peer): Promise<void> {
  strategy.send({ cmd: "await-probe" });
  await feeder.request({ cmd: "probe", on: true }, "ok");
  await strategy.next("probed", 10_000);
  await feeder.request({ cmd: "probe", on: false }, "ok");
  await sleep(50);
}

/** One throughput run; the strategy must be connected (directly or through) and warm. */
async function throughput(feeder: Peer, strategy: Peer, args: Args) {
  await strategy.request({ cmd: "expect", n: args.messages, quietMs: 500 }, "ok");
  const flooded = await feeder.request(
    { cmd: "flood", n: args.messages, size: args.size },
    "flooded",
    60_000,
  );
  const expected = await strategy.next("expected", 65_000);
  const seconds = Number(BigInt(expected.lastNs) - BigInt(flooded.startNs)) / 1e9;
  return { msgsPerSec: expected.received / seconds, lost: args.messages - expected.received };
}

/** The strategy's latency samples of one run of the feeder at the fixed rate. */
async function pacedRun(feeder: Peer, strategy: Peer, args: Args) {
  await strategy.request({ cmd: "latency", on: true }, "ok");
  await feeder.request(
    { cmd: "paced", topic: "L", rate: args.rate, ms: args.latencyMs, size: args.size },
    "paced",
    args.latencyMs + 10_000,
  );
  await sleep(50);
  return strategy.request({ cmd: "latency", on: false }, "latency");
}

/** One latency run at the fixed rate. */
async function latency(feeder: Peer, strategy: Peer, args: Args) {
  const { samplesUs } = await pacedRun(feeder, strategy, args);
  // The first 10% of each run are its warm-up.
  return samplesUs.slice(Math.floor(samplesUs.length / 10));
}

/**
 * One paired latency run: the through strategy's process also holds a second SUB connected
 * directly to the feeder, so each message is measured on both paths by the same receiving
 * process at once (a stall of that process delays both). Returns, per message that reached
 * both sockets, through − direct (µs).
 */
async function pairedLatency(feeder: Peer, strategy: Peer, args: Args) {
  const r = await pacedRun(feeder, strategy, args);
  const directBy = new Map<number, number>();
  r.pairStampsNs.forEach((stamp, i) => directBy.set(stamp, r.pairSamplesUs[i] as number));
  const added: number[] = [];
  r.stampsNs.forEach((stamp, i) => {
    const base = directBy.get(stamp);
    if (base !== undefined) added.push((r.samplesUs[i] as number) - base);
  });
  // The first 10% of each run are its warm-up.
  return {
    added: added.slice(Math.floor(added.length / 10)),
    sent: Math.max(r.stampsNs.length, r.pairStampsNs.length),
  };
}

/**
 * I/O threads of the reference proxy's context: two, as the post office ran its proxies with
 * before the relay (one reads TCP while the other writes ipc; 82% → 87-91% of direct with two).
 */
const ONE_PROXY_IO_THREADS = 2;

/** The reference forwarder: one native proxy, XSUB connected to the feeder, XPUB bound at ipc. */
class OneProxy {
  readonly #context = new zmq.Context({ ioThreads: ONE_PROXY_IO_THREADS });
  readonly #proxy: zmq.Proxy;
  readonly #run: Promise<void>;

  constructor(
    remote: string,
    readonly endpoint: string,
  ) {
    const options = {
      context: this.#context,
      linger: 0,
      sendHighWaterMark: 100_000,
      receiveHighWaterMark: 100_000,
    };
    const front = new zmq.XSubscriber(options);
    const back = new zmq.XPublisher(options);
    front.connect(remote);
    back.bindSync(endpoint);
    this.#proxy = new zmq.Proxy(front, back);
    this.#run = this.#proxy.run();
  }

  async close(): Promise<void> {
    this.#proxy.terminate();
    await this.#run;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const say = (line: string) => {
    if (!args.json) process.stderr.write(`${line}\n`);
  };
  const runDir = mkdtempSync(join(tmpdir(), "hive-fwd-"));
  const started = Date.now();
  const peers: Peer[] = [];
  let po: PostOffice | undefined;
  try {
    const startPeer = async (name: string, peerArgs: string[]) => {
      const { peer, endpoint } = await Peer.start(name, peerArgs);
      peers.push(peer);
      return { peer, endpoint: endpoint ?? "" };
    };
    const [a, b, direct, through] = await Promise.all([
      startPeer("feeder A", ["feeder", "A"]),
      startPeer("feeder B", ["feeder", "B"]),
      startPeer("direct strategy", ["strategy"]),
      startPeer("through strategy", ["strategy"]),
    ]);
    po = new PostOffice({ runDir });
    const endpoints = await po.addDeployment(
      DEPLOYMENT,
      [{ name: SOCKET, pattern: "sub", direction: "consume" }],
      {
        epoch: 1n,
        ordersOpen: false,
      },
    );
    const local = endpoints[SOCKET] ?? "";
    await through.peer.request({ cmd: "connect", endpoint: local }, "ok");

    const viaDirect = async <T>(run: () => Promise<T>): Promise<T> => {
      await direct.peer.request({ cmd: "connect", endpoint: a.endpoint }, "ok");
      await warm(a.peer, direct.peer);
      const result = await run();
      await direct.peer.request({ cmd: "disconnect", endpoint: a.endpoint }, "ok");
      await sleep(50);
      return result;
    };
    const viaPostOffice = async <T>(
      office: PostOffice,
      deploymentId: string,
      strategy: Peer,
      run: () => Promise<T>,
    ) => {
      await route(office, runDir, deploymentId, [a.endpoint]);
      await warm(a.peer, strategy);
      const result = await run();
      await route(office, runDir, deploymentId, []);
      await sleep(50);
      return result;
    };

    const viaOneProxy = async <T>(strategy: Peer, run: () => Promise<T>) => {
      const endpoint = `ipc://${runDir}/one-proxy`;
      const reference = new OneProxy(a.endpoint, endpoint);
      await strategy.request({ cmd: "connect", endpoint }, "ok");
      await warm(a.peer, strategy);
      const result = await run();
      await strategy.request({ cmd: "disconnect", endpoint }, "ok");
      await reference.close();
      await sleep(50);
      return result;
    };
    const office = po;

    say(`throughput: ${args.rounds} rounds of ${args.messages} messages per variant...`);
    const directRuns = [];
    const oneRuns = [];
    const throughRuns = [];
    let countedByPostOffice = 0;
    let droppedByPostOffice = 0;
    let throughReceived = 0;
    for (let round = 0; round < args.rounds; round++) {
      directRuns.push(await viaDirect(() => throughput(a.peer, direct.peer, args)));
      oneRuns.push(await viaOneProxy(direct.peer, () => throughput(a.peer, direct.peer, args)));
      throughRuns.push(
        await viaPostOffice(office, DEPLOYMENT, through.peer, async () => {
          const before = office.counters()[0];
          const run = await throughput(a.peer, through.peer, args);
          const after = office.counters()[0];
          countedByPostOffice += (after?.messages ?? 0) - (before?.messages ?? 0);
          droppedByPostOffice += (after?.drops ?? 0) - (before?.drops ?? 0);
          throughReceived += args.messages - run.lost;
          return run;
        }),
      );
    }

    say(`latency: ${args.rounds} rounds of ${args.latencyMs} ms at ${args.rate} msg/s per variant...`);
    const directSamples: number[] = [];
    const oneSamples: number[] = [];
    const throughSamples: number[] = [];
    for (let round = 0; round < args.rounds; round++) {
      directSamples.push(...(await viaDirect(() => latency(a.peer, direct.peer, args))));
      oneSamples.push(...(await viaOneProxy(direct.peer, () => latency(a.peer, direct.peer, args))));
      throughSamples.push(
        ...(await viaPostOffice(office, DEPLOYMENT, through.peer, () => latency(a.peer, through.peer, args))),
      );
    }
    say(`paired latency: ${args.rounds} rounds, one strategy process subscribed both ways at once...`);
    const pairedAdded: number[] = [];
    let pairedSent = 0;
    await through.peer.request({ cmd: "pair", endpoint: a.endpoint }, "ok");
    for (let round = 0; round < args.rounds; round++) {
      const run = await viaPostOffice(office, DEPLOYMENT, through.peer, () =>
        pairedLatency(a.peer, through.peer, args),
      );
      pairedAdded.push(...run.added);
      pairedSent += run.sent;
    }
    await through.peer.request({ cmd: "pair", endpoint: null }, "ok");
    const paired = latencyFigures(pairedAdded);
    const directLatency = latencyFigures(directSamples);
    const oneLatency = latencyFigures(oneSamples);
    const throughLatency = latencyFigures(throughSamples);

    say(`route change: ${args.changes} moves between feeders A and B...`);
    await route(po, runDir, DEPLOYMENT, [a.endpoint]);
    await warm(a.peer, through.peer);
    const streamMs = 60_000;
    for (const feeder of [a.peer, b.peer]) {
      feeder.send({ cmd: "paced", topic: "R", rate: args.rate, ms: streamMs, size: args.size });
    }
    await sleep(100);
    const changeMs: number[] = [];
    const applyMs: number[] = [];
    let missed = 0;
    for (let i = 0; i < args.changes; i++) {
      const [to, name] = i % 2 === 0 ? [b.endpoint, "B"] : [a.endpoint, "A"];
      await through.peer.request({ cmd: "arm", src: name }, "ok");
      const t0 = process.hrtime.bigint();
      await route(po, runDir, DEPLOYMENT, [to]);
      applyMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      try {
        const seen = await through.peer.next("seen", 2000);
        changeMs.push(Number(BigInt(seen.atNs) - t0) / 1e6);
      } catch {
        missed++;
      }
      await sleep(30);
    }
    for (const feeder of [a.peer, b.peer]) await feeder.request({ cmd: "stop" }, "ok");
    for (const feeder of [a.peer, b.peer]) await feeder.next("paced", 10_000);
    const { events } = await through.peer.request({ cmd: "events" }, "events");
    const reconnects =
      events.filter((e) => e === "disconnect" || e === "close" || e === "connect:retry").length +
      Math.max(0, events.filter((e) => e === "connect").length - 1);
    await through.peer.request({ cmd: "disconnect", endpoint: local }, "ok");
    await po.close();
    po = undefined;

    const directRate = median(directRuns.map((r) => r.msgsPerSec));
    const throughRate = median(throughRuns.map((r) => r.msgsPerSec));
    const oneRate = median(oneRuns.map((r) => r.msgsPerSec));
    const sortedChange = [...changeMs].sort((x, y) => x - y);
    const sortedApply = [...applyMs].sort((x, y) => x - y);
    const figures = {
      config: {
        ...args,
        cpus: availableParallelism(),
        node: process.version,
        libzmq: zmq.version,
        layout: "post office in the bench process; feeders and strategies in child processes",
        oneProxyIoThreads: ONE_PROXY_IO_THREADS,
      },
      throughput: {
        direct: {
          msgsPerSec: directRate,
          lost: directRuns.map((r) => r.lost),
          runs: directRuns.map((r) => r.msgsPerSec),
        },
        oneProxy: {
          msgsPerSec: oneRate,
          lost: oneRuns.map((r) => r.lost),
          runs: oneRuns.map((r) => r.msgsPerSec),
        },
        through: {
          msgsPerSec: throughRate,
          lost: throughRuns.map((r) => r.lost),
          runs: throughRuns.map((r) => r.msgsPerSec),
        },
        ratio: throughRate / directRate,
        oneProxyRatio: oneRate / directRate,
        counted: {
          byPostOffice: countedByPostOffice,
          dropped: droppedByPostOffice,
          strategyReceived: throughReceived,
        },
      },
      latency: {
        direct: directLatency,
        oneProxy: oneLatency,
        through: throughLatency,
        addedP50Us: throughLatency.p50Us - directLatency.p50Us,
        addedP99Us: throughLatency.p99Us - directLatency.p99Us,
        paired: { ...paired, messagesSent: pairedSent },
      },
      routeChange: {
        changes: args.changes,
        p50Ms: percentile(sortedChange, 0.5),
        p99Ms: percentile(sortedChange, 0.99),
        maxMs: sortedChange.at(-1) ?? Number.NaN,
        applyRoutesP50Ms: percentile(sortedApply, 0.5),
        applyRoutesP99Ms: percentile(sortedApply, 0.99),
        missed,
        strategyReconnects: reconnects,
        strategyEvents: events,
      },
      elapsedSec: (Date.now() - started) / 1000,
    };
    const targets = {
      throughputRatio: { target: ">= 0.90", met: figures.throughput.ratio >= 0.9 },
      addedP99Us: { target: "<= 100", met: figures.latency.addedP99Us <= 100 },
      pairedAddedP99Us: { target: "<= 100", met: figures.latency.paired.p99Us <= 100 },
      routeChangeP99Ms: { target: "<= 10", met: figures.routeChange.p99Ms <= 10 && missed === 0 },
      strategyReconnects: { target: "0", met: reconnects === 0 },
    };
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ ...figures, targets })}\n`);
    } else {
      printTable(figures, targets);
    }
  } finally {
    await po?.close();
    await Promise.all(peers.map((p) => p.close()));
    rmSync(runDir, { recursive: true, force: true });
  }
}

type Lat = ReturnType<typeof latencyFigures>;
type Figures = {
  config: Args & {
    cpus: number;
    node: string;
    libzmq: string;
    oneProxyIoThreads: number;
  };
  throughput: {
    direct: { msgsPerSec: number; lost: number[] };
    oneProxy: { msgsPerSec: number; lost: number[] };
    through: { msgsPerSec: number; lost: number[] };
    ratio: number;
    oneProxyRatio: number;
    counted: { byPostOffice: number; dropped: number; strategyReceived: number };
  };
  latency: {
    direct: Lat;
    oneProxy: Lat;
    through: Lat;
    addedP50Us: number;
    addedP99Us: number;
    paired: Lat & { messagesSent: number };
  };
  routeChange: {
    changes: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    applyRoutesP50Ms: number;
    applyRoutesP99Ms: number;
    missed: number;
    strategyReconnects: number;
  };
  elapsedSec: number;
};

function printTable(f: Figures, targets: Record<string, { target: string; met: boolean }>): void {
  const n = (x: number, digits = 0) =>
    x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${n(x, 1)}`;
  const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(34) : c.padStart(13))).join("");
  const c = f.config;
  const t = f.throughput;
  const l = f.latency;
  const latencyRow = (label: string, key: keyof Lat, added: boolean) =>
    row([
      label,
      n(l.direct[key], 1),
      n(l.oneProxy[key], 1),
      n(l.through[key], 1),
      added ? signed(l.through[key] - l.direct[key]) : "",
    ]);
  const lines = [
    `forwarder: ${c.size}-byte payloads, loopback, ${c.cpus} cpus, one proxy's io threads ` +
      `${c.oneProxyIoThreads}, node ${c.node}, libzmq ${c.libzmq}`,
    "",
    row(["", "direct", "one proxy*", "post office", "po vs direct"]),
    row([
      `throughput msg/s (median of ${c.rounds})`,
      n(t.direct.msgsPerSec),
      n(t.oneProxy.msgsPerSec),
      n(t.through.msgsPerSec),
      `${n(t.ratio * 100, 1)}%`,
    ]),
    row([
      "  messages lost, all runs",
      n(sum(t.direct.lost)),
      n(sum(t.oneProxy.lost)),
      n(sum(t.through.lost)),
      "",
    ]),
    row([`latency @ ${n(c.rate)} msg/s (n=${n(l.through.samples)})`, "", "", "", "added"]),
    latencyRow("  p50 µs", "p50Us", true),
    latencyRow("  p99 µs", "p99Us", true),
    latencyRow("  p99.9 µs", "p999Us", true),
    latencyRow("  max µs", "maxUs", false),
    `  paired (${n(l.paired.samples)} messages each received on both paths by one process), post office − direct:`,
    `    p50 ${signed(l.paired.p50Us)} µs   p99 ${signed(l.paired.p99Us)} µs   p99.9 ${signed(l.paired.p999Us)} µs` +
      `   (of ${n(l.paired.messagesSent)} sent)`,
    "",
    row([`route change (n=${f.routeChange.changes})`, "p50 ms", "p99 ms", "max ms"]),
    row([
      "  applyRoutes → first new message",
      n(f.routeChange.p50Ms, 2),
      n(f.routeChange.p99Ms, 2),
      n(f.routeChange.maxMs, 2),
    ]),
    row([
      "  applyRoutes call returned",
      n(f.routeChange.applyRoutesP50Ms, 2),
      n(f.routeChange.applyRoutesP99Ms, 2),
      "",
    ]),
    `  missed changes: ${f.routeChange.missed}   strategy reconnects: ${f.routeChange.strategyReconnects}`,
    "",
    `post office counters over the throughput runs: ${n(t.counted.byPostOffice)} messages written to the ` +
      `strategy, ${n(t.counted.dropped)} dropped; the strategy received ${n(t.counted.strategyReceived)}`,
    "",
    "* one proxy: reference only, libzmq's zmq_proxy, which cannot change routes without a strategy reconnect",
    "targets: " +
      Object.entries(targets)
        .map(([k, v]) => `${k} ${v.target} ${v.met ? "met" : "NOT MET"}`)
        .join("; "),
    `elapsed ${n(f.elapsedSec, 1)} s`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

await main();
