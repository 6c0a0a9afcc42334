#!/usr/bin/env node
// The smallest complete strategy (docs/strategies.md): it prints every tick, sends one market
// order on the first one, prints every reply, and stops cleanly on SIGTERM. Needs the `zeromq`
// npm package (v6).
import * as zmq from "zeromq";

const env = process.env;
const marketData = new zmq.Subscriber();
marketData.connect(env.HIVE_SOCKET_MARKET_DATA); // connect, never bind: the runner owns the endpoint
marketData.subscribe(); // every symbol; subscribe("ESZ6") for one
const orders = new zmq.Dealer({ linger: 1000 });
orders.connect(env.HIVE_SOCKET_ORDERS);

// SIGTERM: close the sockets; both loops below then end, and so does the process (exit code 0).
process.once("SIGTERM", () => {
  marketData.close();
  orders.close();
});

const run = Date.now().toString(36); // a restart in place gets new order ids (docs/strategies.md)
let sent = 0;

async function readTicks() {
  for await (const [topic, payload] of marketData) {
    const tick = JSON.parse(payload.toString());
    console.log(`tick ${topic} seq=${tick.seq} bid=${tick.bid} ask=${tick.ask}`);
    if (sent === 0) {
      sent += 1;
      const order = {
        account: env.ACCOUNT ?? "paper-001",
        clientOrderId: `${env.HIVE_DEPLOYMENT_ID}-${run}-${sent}`,
        symbol: tick.symbol,
        side: "buy",
        qty: 1,
        type: "market",
      };
      console.log(`order ${JSON.stringify(order)}`);
      await orders.send(JSON.stringify(order));
    }
  }
}

async function readReplies() {
  for await (const [frame] of orders) {
    const reply = JSON.parse(frame.toString()); // {type: "ack" | "fill" | "reject", clientOrderId, ...}
    console.log(`reply ${reply.type} ${JSON.stringify(reply)}`);
  }
}

await Promise.all([readTicks(), readReplies()]);
