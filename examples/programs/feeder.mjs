#!/usr/bin/env node
/**
 * A market-data feeder: publishes ticks on a ZeroMQ PUB socket that it binds itself (a feeder
 * *offers* its `market_data` socket, so the runner gives it a port: HIVE_PORT_MARKET_DATA).
 *
 *   node examples/programs/feeder.mjs [--symbols ESZ6,NQZ6] [--rate 20] [--seed 1]
 *        [--replay file.csv] [--port 5556]
 *
 * Two modes:
 * - synthetic (the default): a seeded random walk per symbol (lib/random-walk.mjs), `--rate` ticks
 *   per second per symbol; the same --seed gives the same prices;
 * - replay: the rows of a tick CSV (`--replay <file>`, or the dataset HIVE_DATASET_TICKS), in file
 *   order, `--rate` rows per second in all, from the top again at the end.
 *
 * Every message is two frames: the symbol (the topic, so subscribers can filter) and one JSON
 * object `{symbol, seq, ts, bid, ask, last, size}`; `seq` counts 1, 2, 3, ... per symbol, and `ts`
 * is when it was published (ms since the Unix epoch). See docs/strategies.md.
 *
 * Stdout gets one JSON line at start, a summary every 10 s, and one at stop. SIGTERM (or Ctrl-C)
 * stops it cleanly: exit 0. Exit code 2 is bad configuration, 1 an error while running.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { createRandomWalk } from "./lib/random-walk.mjs";
import { readTicks } from "./lib/ticks-csv.mjs";

const env = process.env;

/** One line of structured output. */
function log(event, fields = {}) {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), event, ...fields }) + "\n");
}

/** A configuration error: one clear line on stderr, exit code 2. */
function configError(message) {
  process.stderr.write(`feeder: ${message}\n`);
  process.exit(2);
}

let flags;
try {
  ({ values: flags } = parseArgs({
    options: {
      symbols: { type: "string", default: "ESZ6,NQZ6" },
      rate: { type: "string", default: "20" },
      seed: { type: "string", default: "1" },
      replay: { type: "string" },
      port: { type: "string" },
    },
  }));
} catch (err) {
  configError(err.message);
}

const port = env.HIVE_PORT_MARKET_DATA ?? flags.port;
if (port === undefined || !/^\d+$/.test(port))
  configError(
    `no port: HIVE_PORT_MARKET_DATA is ${JSON.stringify(port)}, expected the port to bind (or --port)`,
  );
const rate = Number(flags.rate);
if (!Number.isFinite(rate) || rate <= 0)
  configError(`--rate: found ${JSON.stringify(flags.rate)}, expected ticks/s above 0`);
const replay = flags.replay ?? env.HIVE_DATASET_TICKS;
const symbols = flags.symbols
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s !== "");
if (replay === undefined && symbols.length === 0) configError("--symbols: expected at least one symbol");

// linger 0: ticks still queued at stop are stale by then; dropping them lets the process exit at once.
const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 10_000 });
const endpoint = `tcp://*:${port}`;
try {
  await pub.bind(endpoint);
} catch (err) {
  process.stderr.write(`feeder: cannot bind ${endpoint}: ${err.message}\n`);
  process.exit(1);
}

const stop = new AbortController();
process.once("SIGTERM", () => stop.abort());
process.once("SIGINT", () => stop.abort());

// The tick source: an endless iterable of `{symbol, bid, ask, last, size}`.
let source;
let ticksPerSecond;
if (replay !== undefined) {
  source = (async function* () {
    for (;;) {
      let rows = 0;
      for await (const row of readTicks(replay)) {
        rows += 1;
        yield row;
      }
      if (rows === 0) throw new Error(`${replay}: no ticks to replay`);
    }
  })();
  ticksPerSecond = rate;
} else {
  const walks = symbols.map((symbol) => createRandomWalk(symbol, flags.seed));
  source = (function* () {
    for (;;) for (const walk of walks) yield walk.next();
  })();
  ticksPerSecond = rate * walks.length;
}

const seqs = new Map(); // symbol → last seq published
let published = 0;
let lastSummary = { at: Date.now(), published: 0 };
const summary = setInterval(() => {
  const now = Date.now();
  const perSecond = ((published - lastSummary.published) * 1000) / (now - lastSummary.at);
  lastSummary = { at: now, published };
  log("summary", {
    published,
    perSecond: Math.round(perSecond * 10) / 10,
    lastSeq: Object.fromEntries(seqs),
  });
}, 10_000);

log("start", {
  service: env.HIVE_SERVICE ?? null,
  deploymentId: env.HIVE_DEPLOYMENT_ID ?? null,
  bind: endpoint,
  mode: replay !== undefined ? "replay" : "synthetic",
  ...(replay !== undefined ? { replay } : { symbols, seed: flags.seed }),
  ticksPerSecond,
});

let exitCode = 0;
try {
  // Paced by the clock, not by sleeps: tick i is due at start + i / ticksPerSecond, so a slow
  // moment is caught up instead of lowering the rate.
  const start = performance.now();
  for await (const row of source) {
    if (stop.signal.aborted) break;
    const due = start + (published * 1000) / ticksPerSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait, undefined, { signal: stop.signal }).catch(() => {});
    if (stop.signal.aborted) break;

    const seq = (seqs.get(row.symbol) ?? 0) + 1;
    seqs.set(row.symbol, seq);
    const tick = {
      symbol: row.symbol,
      seq,
      ts: Date.now(),
      bid: row.bid,
      ask: row.ask,
      last: row.last,
      size: row.size,
    };
    // A PUB never blocks: with no subscriber, or one too slow, ZeroMQ drops the message.
    await pub.send([row.symbol, JSON.stringify(tick)]);
    published += 1;
  }
} catch (err) {
  process.stderr.write(`feeder: ${err.message}\n`);
  exitCode = 1;
}

clearInterval(summary);
pub.close();
log("stop", { published, lastSeq: Object.fromEntries(seqs) });
process.exitCode = exitCode;
