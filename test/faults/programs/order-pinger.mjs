#!/usr/bin/env node
/**
 * The strategy of the fault tests: it keeps sending orders on its local `orders` socket whatever
 * happens around it — a zombie does not know it is one. Every PERIOD_MS it sends one order whose
 * clientOrderId is the time slot (`<prefix>-<slot>`, slot = floor(now / period)), so an active
 * and its standby that send at the same moment send the same id; every 7th order is a limit
 * order far from the market, which rests at the broker (open orders during a cut); the others are
 * market orders, buy on even slots and sell on odd ones. Every 5th send also re-sends the order of
 * 25 slots earlier (a retry with the same id): after a promotion those are ids the old active may
 * have had executed, and the gateway must answer "duplicate", never execute them twice.
 *
 * Env: HIVE_SOCKET_ORDERS (from the runner), ACCOUNT, PERIOD_MS (default 20), SYMBOL (default
 * ESZ6), ID_PREFIX (default "o"). Stdout: one JSON line at start, every 2 s, and at stop.
 */
import * as zmq from "zeromq";

const env = process.env;
const endpoint = env.HIVE_SOCKET_ORDERS;
if (!endpoint) {
  console.error("order-pinger: no HIVE_SOCKET_ORDERS (run it through a runner)");
  process.exit(2);
}
const account = env.ACCOUNT ?? "acct-f";
const period = Number(env.PERIOD_MS ?? 20);
const symbol = env.SYMBOL ?? "ESZ6";
const prefix = env.ID_PREFIX ?? "o";
const deployment = env.HIVE_DEPLOYMENT_ID;

const dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: 10_000, sendTimeout: 0 });
dealer.connect(endpoint);
const counts = { sent: 0, retries: 0, replies: {} };
const out = (event, extra = {}) =>
  console.log(JSON.stringify({ event, deployment, at: Date.now(), ...counts, ...extra }));
out("started", { endpoint, account, period });

let stopping = false;
const order = (slot) => {
  const resting = slot % 7 === 0;
  return JSON.stringify({
    account,
    clientOrderId: `${prefix}-${slot}`,
    symbol,
    side: slot % 2 === 0 ? "buy" : "sell",
    qty: 1,
    type: resting ? "limit" : "market",
    ...(resting ? { price: slot % 2 === 0 ? 1 : 1_000_000 } : {}),
  });
};

const send = async (frame) => {
  try {
    await dealer.send(frame);
    return true;
  } catch {
    return false; // the runner is gone or full: a zombie keeps trying
  }
};

const timer = setInterval(async () => {
  const slot = Math.floor(Date.now() / period);
  if (await send(order(slot))) counts.sent++;
  if (slot % 5 === 0 && (await send(order(slot - 25)))) counts.retries++;
}, period);
const report = setInterval(() => out("progress"), 2_000);

process.on("SIGTERM", () => {
  stopping = true;
  clearInterval(timer);
  clearInterval(report);
  dealer.close();
});

try {
  for await (const [frame] of dealer) {
    try {
      const type = JSON.parse(frame.toString()).type ?? "?";
      counts.replies[type] = (counts.replies[type] ?? 0) + 1;
    } catch {
      counts.replies.unreadable = (counts.replies.unreadable ?? 0) + 1;
    }
  }
} catch (err) {
  if (!stopping) throw err;
}
out("stopped");
