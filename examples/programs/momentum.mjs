#!/usr/bin/env node
/**
 * A live momentum strategy, and a template for any strategy the runner starts. It knows no
 * address: it connects to the two local sockets its runner's post office gives it and trades
 * through them (docs/strategies.md has the whole contract).
 *
 *   HIVE_SOCKET_MARKET_DATA  ipc:// endpoint: a SUB receives ticks, two frames [symbol, JSON]
 *   HIVE_SOCKET_ORDERS       ipc:// endpoint: a DEALER sends one JSON order per message and
 *                            receives the replies (ack, fill, reject) on the same socket
 *
 * Settings, from the environment (the layout's `env`): ACCOUNT (paper-001), LOOKBACK (20),
 * THRESHOLD_BPS (1), QTY (1), MAX_POSITION (2), SYMBOLS (comma-separated; all when unset).
 * The rule itself is lib/momentum-signal.mjs, the same one the backtests replay.
 *
 * Client order ids are `<HIVE_DEPLOYMENT_ID>-<run>-<n>`: `run` is this process's start time in
 * base 36, `n` counts 1, 2, 3, ... Why each part:
 * - the deployment id: two instances (the active and its standby, or last week's deployment)
 *   never produce the same id;
 * - the run: a restart in place keeps the deployment id, and a counter starting again at 1 would
 *   reuse ids the gateway has already seen, so it would refuse new orders as duplicates;
 * - the counter: ids are not random, so a resend of the same order (after an answer that never
 *   came, e.g. across a gateway move) reuses its id and the gateway executes it at most once.
 *
 * Stdout gets one JSON line per order, per reply, a status every 10 s, and one at start and stop.
 * SIGTERM (or Ctrl-C) stops it cleanly: exit 0. Exit code 2 is bad configuration, 1 a failure.
 */
import * as zmq from "zeromq";
import { compileParams, MomentumSignal, orderSide } from "./lib/momentum-signal.mjs";

const env = process.env;

/** One line of structured output. */
function log(event, fields = {}) {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), event, ...fields }) + "\n");
}

/** A configuration error: one clear line on stderr, exit code 2. */
function configError(message) {
  process.stderr.write(`momentum: ${message}\n`);
  process.exit(2);
}

// --- Configuration: everything from the environment -------------------------------------------
const required = (name) =>
  env[name] ||
  configError(`${name} is not set: the runner sets it for a socket named in the layout's sockets.consumes`);
const marketDataEndpoint = required("HIVE_SOCKET_MARKET_DATA");
const ordersEndpoint = required("HIVE_SOCKET_ORDERS");
const account = env.ACCOUNT || "paper-001";
const symbols = env.SYMBOLS ? env.SYMBOLS.split(",").map((s) => s.trim()) : [];
let params;
try {
  params = compileParams({
    lookback: { name: "LOOKBACK", value: env.LOOKBACK },
    thresholdBps: { name: "THRESHOLD_BPS", value: env.THRESHOLD_BPS },
    qty: { name: "QTY", value: env.QTY },
    maxPosition: { name: "MAX_POSITION", value: env.MAX_POSITION },
  });
} catch (err) {
  configError(err.message);
}
const idPrefix = `${env.HIVE_DEPLOYMENT_ID || "local"}-${Date.now().toString(36)}`;

// --- Sockets --------------------------------------------------------------------------------------
// Connect, never bind: the post office owns the endpoints, and a connect succeeds (and retries)
// even before they exist.
const marketData = new zmq.Subscriber({ linger: 0 });
marketData.connect(marketDataEndpoint);
if (symbols.length === 0) marketData.subscribe();
else for (const symbol of symbols) marketData.subscribe(symbol);

// linger: an order sent just before SIGTERM still gets up to 1 s to leave at close.
// sendTimeout 0: if the queue to the post office is full, fail at once rather than hold a tick.
const orders = new zmq.Dealer({ linger: 1000, sendTimeout: 0 });
orders.connect(ordersEndpoint);

// --- State ----------------------------------------------------------------------------------------
const signal = new MomentumSignal(params);
const position = new Map(); // symbol → filled quantity (long > 0)
const pending = new Map(); // symbol → { buy, sell }: quantities sent, not yet filled or rejected
const open = new Map(); // clientOrderId → { symbol, side, qty, filled }
const lastSeq = new Map(); // symbol → last seq seen, to count gaps
const counts = { ticks: 0, gaps: 0, badTicks: 0, orders: 0, acks: 0, fills: 0, rejects: 0 };
let orderCounter = 0;
let stopping = false;

const pendingOf = (symbol) => pending.get(symbol) ?? pending.set(symbol, { buy: 0, sell: 0 }).get(symbol);
const positions = () => Object.fromEntries(position);

// --- Market data in, orders out -------------------------------------------------------------------
async function onTick([topic, payload]) {
  let tick;
  try {
    tick = JSON.parse(payload?.toString("utf8") ?? "");
  } catch {
    tick = undefined;
  }
  if (typeof tick?.bid !== "number" || typeof tick.ask !== "number" || typeof tick.symbol !== "string") {
    counts.badTicks += 1;
    if (counts.badTicks <= 10)
      log("bad-tick", { topic: String(topic), payload: String(payload).slice(0, 200) });
    return;
  }
  counts.ticks += 1;
  // seq counts 1, 2, 3, ... per symbol: a jump is lost ticks, a step back a restarted feeder.
  const previous = lastSeq.get(tick.symbol);
  if (previous !== undefined && tick.seq > previous + 1) counts.gaps += tick.seq - previous - 1;
  lastSeq.set(tick.symbol, tick.seq);

  const mid = (tick.bid + tick.ask) / 2;
  const want = signal.onPrice(tick.symbol, mid);
  const p = pendingOf(tick.symbol);
  const side = orderSide(want, position.get(tick.symbol) ?? 0, p.buy, p.sell, params);
  if (side !== null && !stopping) await sendOrder(tick.symbol, side);
}

async function sendOrder(symbol, side) {
  orderCounter += 1;
  const order = {
    account,
    clientOrderId: `${idPrefix}-${orderCounter}`,
    symbol,
    side,
    qty: params.qty,
    type: "market",
  };
  open.set(order.clientOrderId, { symbol, side, qty: order.qty, filled: 0 });
  pendingOf(symbol)[side] += order.qty;
  counts.orders += 1;
  log("order", { order });
  try {
    await orders.send(JSON.stringify(order));
  } catch (err) {
    // Not sent (queue full, or closing): as good as rejected here, so the position limit frees up.
    settle(order.clientOrderId);
    log("order-not-sent", { clientOrderId: order.clientOrderId, error: err.message });
  }
}

// --- Replies: from the runner (rejects) or the gateway (acks, fills, rejects) --------------------
function onReply([frame]) {
  let reply;
  try {
    reply = JSON.parse(frame?.toString("utf8") ?? "");
  } catch {
    reply = undefined;
  }
  if (typeof reply !== "object" || reply === null) {
    log("reply-unreadable", { frame: String(frame).slice(0, 200) });
    return;
  }
  const o = open.get(reply.clientOrderId);
  switch (reply.type) {
    case "ack":
      counts.acks += 1;
      break;
    case "fill":
      counts.fills += 1;
      if (o !== undefined && typeof reply.qty === "number") {
        const qty = Math.min(reply.qty, o.qty - o.filled);
        o.filled += qty;
        pendingOf(o.symbol)[o.side] -= qty;
        position.set(o.symbol, (position.get(o.symbol) ?? 0) + (o.side === "buy" ? qty : -qty));
        if (o.filled >= o.qty) open.delete(reply.clientOrderId);
      }
      break;
    case "reject":
      counts.rejects += 1;
      if (o !== undefined) settle(reply.clientOrderId);
      break;
    default:
      // A reply type this program does not know: log it, change nothing (forward compatible).
      break;
  }
  log("reply", { reply, known: o !== undefined, position: positions() });
}

/** Forgets an order that will get no (more) fills, releasing what it held of the position limit. */
function settle(clientOrderId) {
  const o = open.get(clientOrderId);
  if (o === undefined) return;
  pendingOf(o.symbol)[o.side] -= o.qty - o.filled;
  open.delete(clientOrderId);
}

// --- Lifecycle ------------------------------------------------------------------------------------
/** Reads a socket until it is closed; a failure while it is open is fatal. */
async function readLoop(socket, handle) {
  try {
    for await (const frames of socket) await handle(frames);
  } catch (err) {
    if (!socket.closed) throw err;
  }
}

function stop(reason) {
  if (stopping) return;
  stopping = true;
  log("stopping", { reason });
  marketData.close(); // ends the tick loop at once
  orders.close(); // sends what is queued (linger), then ends the reply loop
}
process.once("SIGTERM", () => stop("SIGTERM"));
process.once("SIGINT", () => stop("SIGINT"));

const status = setInterval(
  () => log("status", { ...counts, position: positions(), openOrders: open.size }),
  10_000,
);
log("start", {
  service: env.HIVE_SERVICE ?? null,
  deploymentId: env.HIVE_DEPLOYMENT_ID ?? null,
  marketData: marketDataEndpoint,
  orders: ordersEndpoint,
  account,
  symbols: symbols.length > 0 ? symbols : "all",
  params,
  clientOrderIds: `${idPrefix}-<n>`,
});

try {
  await Promise.all([readLoop(marketData, onTick), readLoop(orders, onReply)]);
} catch (err) {
  process.stderr.write(`momentum: ${err.stack ?? err}\n`);
  process.exitCode = 1;
  stop("error");
}
clearInterval(status);
log("stop", { ...counts, position: positions(), openOrders: open.size });
