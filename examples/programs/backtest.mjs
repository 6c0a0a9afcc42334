#!/usr/bin/env node
/**
 * A backtest of the momentum strategy: replays the tick dataset the runner put in RAM
 * (HIVE_DATASET_TICKS) through the same rule the live strategy uses (lib/momentum-signal.mjs),
 * fills every order at once at the tick's price (a buy at the ask, a sell at the bid), and writes
 * a results file. backtest.py is the same program in Python; both write the same results.
 *
 *   node examples/programs/backtest.mjs [--lookback 20] [--threshold-bps 1] [--qty 1]
 *        [--max-position 2] [--out file] [--progress-every 100000] [--dataset path]
 *
 * Contract (docs/strategies.md): everything comes from the environment; flags win over the
 * environment variables LOOKBACK, THRESHOLD_BPS, QTY and MAX_POSITION. Results go to --out, else
 * $HIVE_RESULTS_DIR/<HIVE_DEPLOYMENT_ID>.json, else ./results/<HIVE_SERVICE or "backtest">.json.
 * Progress and a summary go to stdout, one JSON object per line. SIGTERM stops the replay early
 * and writes what was done so far, with "complete": false. Exit codes: 0 done (or stopped by
 * SIGTERM), 1 the dataset could not be read, 2 bad configuration.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { compileParams, MomentumSignal, orderSide } from "./lib/momentum-signal.mjs";
import { readTicks } from "./lib/ticks-csv.mjs";

const env = process.env;

/** One line of structured output. */
function log(event, fields = {}) {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), event, ...fields }) + "\n");
}

/** A configuration error: one clear line on stderr, exit code 2. */
function configError(message) {
  process.stderr.write(`backtest: ${message}\n`);
  process.exit(2);
}

let flags;
try {
  ({ values: flags } = parseArgs({
    options: {
      lookback: { type: "string" },
      "threshold-bps": { type: "string" },
      qty: { type: "string" },
      "max-position": { type: "string" },
      out: { type: "string" },
      "progress-every": { type: "string", default: "100000" },
      dataset: { type: "string" },
    },
  }));
} catch (err) {
  configError(err.message);
}

let params;
try {
  const source = (flag, variable) =>
    flags[flag] !== undefined
      ? { name: `--${flag}`, value: flags[flag] }
      : { name: variable, value: env[variable] };
  params = compileParams({
    lookback: source("lookback", "LOOKBACK"),
    thresholdBps: source("threshold-bps", "THRESHOLD_BPS"),
    qty: source("qty", "QTY"),
    maxPosition: source("max-position", "MAX_POSITION"),
  });
} catch (err) {
  configError(err.message);
}
const symbols = env.SYMBOLS ? env.SYMBOLS.split(",").map((s) => s.trim()) : null;
const progressEvery = Number(flags["progress-every"]);
if (!Number.isSafeInteger(progressEvery) || progressEvery < 1)
  configError(
    `--progress-every: found ${JSON.stringify(flags["progress-every"])}, expected a whole number above 0`,
  );

const dataset = flags.dataset ?? env.HIVE_DATASET_TICKS;
if (!dataset)
  configError(
    "no dataset: HIVE_DATASET_TICKS is not set (the runner sets it for a service whose layout lists " +
      "`datasets: [{ name: ticks, ... }]`) and no --dataset was given",
  );

const out =
  flags.out ??
  (env.HIVE_RESULTS_DIR && env.HIVE_DEPLOYMENT_ID
    ? join(env.HIVE_RESULTS_DIR, `${env.HIVE_DEPLOYMENT_ID}.json`)
    : join("results", `${env.HIVE_SERVICE || "backtest"}.json`));

// SIGTERM (or Ctrl-C when run by hand): finish the tick in hand, then write partial results.
let stopRequested = false;
process.once("SIGTERM", () => (stopRequested = true));
process.once("SIGINT", () => (stopRequested = true));

const startedAt = new Date();
log("start", { dataset, out, params, symbols, service: env.HIVE_SERVICE ?? null });

// The simulated account: position and cash per symbol, marked to the mid of each symbol's last tick.
const signal = new MomentumSignal(params);
const position = new Map(); // symbol → filled quantity (long > 0), in first-seen order
const lastMid = new Map(); // symbol → mid of its last tick
let cash = 0;
let peak = 0;
let maxDrawdown = 0;
let ticks = 0;
const trades = [];

/** Equity: cash plus every position marked to its last mid (symbols in first-seen order). */
function equity() {
  let value = cash;
  for (const [symbol, quantity] of position) value += quantity * lastMid.get(symbol);
  return value;
}

try {
  for await (const tick of readTicks(dataset)) {
    if (stopRequested) break;
    if (symbols !== null && !symbols.includes(tick.symbol)) continue;
    ticks += 1;
    const mid = (tick.bid + tick.ask) / 2;
    if (!position.has(tick.symbol)) position.set(tick.symbol, 0);
    lastMid.set(tick.symbol, mid);

    // In a backtest every order fills at once, so nothing is ever pending.
    const held = position.get(tick.symbol);
    const side = orderSide(signal.onPrice(tick.symbol, mid), held, 0, 0, params);
    if (side !== null) {
      const price = side === "buy" ? tick.ask : tick.bid;
      const signed = side === "buy" ? params.qty : -params.qty;
      position.set(tick.symbol, held + signed);
      cash -= signed * price;
      trades.push({
        n: trades.length + 1,
        ts: tick.ts,
        symbol: tick.symbol,
        side,
        qty: params.qty,
        price,
        position: held + signed,
      });
    }

    const value = equity();
    if (value > peak) peak = value;
    if (peak - value > maxDrawdown) maxDrawdown = peak - value;
    if (ticks % progressEvery === 0) log("progress", { ticks, trades: trades.length, pnl: value });
  }
} catch (err) {
  process.stderr.write(`backtest: ${err.message}\n`);
  process.exit(1);
}

const finishedAt = new Date();
const results = {
  schema: "hive.backtest-results/1",
  engine: "node",
  strategy: "momentum",
  deploymentId: env.HIVE_DEPLOYMENT_ID ?? null,
  layout: env.HIVE_LAYOUT ?? null,
  service: env.HIVE_SERVICE ?? null,
  nodeId: env.HIVE_NODE_ID ?? null,
  dataset,
  params: { ...params, symbols },
  complete: !stopRequested,
  ticksProcessed: ticks,
  tradeCount: trades.length,
  positions: Object.fromEntries(position),
  pnl: equity(),
  maxDrawdown,
  startedAt: startedAt.toISOString(),
  finishedAt: finishedAt.toISOString(),
  elapsedMs: finishedAt.getTime() - startedAt.getTime(),
  trades,
};

// Written to a temporary name and renamed, so a reader never sees half a file.
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.tmp`, JSON.stringify(results, null, 2) + "\n");
renameSync(`${out}.tmp`, out);
log("done", {
  complete: results.complete,
  ticks,
  trades: trades.length,
  pnl: results.pnl,
  maxDrawdown,
  positions: results.positions,
  out,
  elapsedMs: results.elapsedMs,
});
