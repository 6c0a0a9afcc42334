#!/usr/bin/env node
// A stand-in paper gateway for `hive dev` until `hive gateway` (the fenced broker gateway) exists.
// It binds the `orders` socket the layout offers (a ROUTER on HIVE_PORT_ORDERS), accepts every
// order envelope a runner forwards, answers an ack and a fill at the order's price (or the last
// price it saw for the symbol), and logs each order as one JSON line. It does NOT fence: it is a
// demo of the wiring, not of the safety invariant.
import * as zmq from "zeromq";

const port = process.env.HIVE_PORT_ORDERS ?? process.argv[2];
if (!port) {
  console.error("dev-gateway: no HIVE_PORT_ORDERS (run it through a runner, or give a port)");
  process.exit(2);
}
const router = new zmq.Router();
await router.bind(`tcp://*:${port}`);
console.log(
  JSON.stringify({ event: "listening", port: Number(port), deployment: process.env.HIVE_DEPLOYMENT_ID }),
);

let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
  router.close();
});

const lastPrice = new Map();
let orders = 0;
try {
  for await (const [peer, frame] of router) {
    let envelope;
    try {
      envelope = JSON.parse(frame.toString());
    } catch {
      continue;
    }
    const order = envelope.order ?? {};
    orders++;
    console.log(
      JSON.stringify({
        event: "order",
        n: orders,
        deploymentId: envelope.deploymentId,
        epoch: envelope.epoch,
        order,
      }),
    );
    const price = order.price ?? lastPrice.get(order.symbol) ?? 100;
    lastPrice.set(order.symbol, price);
    const base = { clientOrderId: envelope.clientOrderId, account: envelope.account, symbol: order.symbol };
    await router.send([peer, JSON.stringify({ type: "ack", ...base })]);
    await router.send([
      peer,
      JSON.stringify({ type: "fill", ...base, side: order.side, qty: order.qty, price }),
    ]);
  }
} catch (err) {
  if (!stopping) throw err;
}
console.log(JSON.stringify({ event: "stopped", orders }));
