/**
 * Run as a child process by post-office.test.ts: exercises every kind of post office socket
 * (market data through the relay thread, orders), then closes everything and returns without
 * calling process.exit. The process ends on its own only if no socket, thread, timer or loop is
 * left behind; the test fails if it does not end in time.
 */
import { setTimeout as sleep } from "node:timers/promises";
import * as zmq from "zeromq";
import { PostOffice } from "../post-office.ts";
import { routeFor, tempRunDir, TestFeeder, TestSubscriber, waitFor } from "./post-office-kit.ts";

const baseline = JSON.stringify(process.getActiveResourcesInfo());
const runDir = tempRunDir();
if (process.argv[2] === "unclosed") {
  // A post office made and ready but never closed (a runner whose start failed after it): with
  // no relay open and nothing asked of it, it must not hold the process.
  const unclosed = new PostOffice({ runDir: runDir.path });
  await unclosed.ready();
  runDir.remove();
  process.stdout.write("unclosed ready\n");
} else {
  const feeder = new TestFeeder("A");
  const address = await feeder.bind();
  feeder.start(["ES"], 1);
  const gateway = new zmq.Router({ linger: 0 });
  await gateway.bind("tcp://127.0.0.1:*");
  const po = new PostOffice({ runDir: runDir.path });
  const endpoints = await po.addDeployment(
    "dep-exit",
    [
      { name: "market_data", pattern: "sub", direction: "consume" },
      { name: "orders", pattern: "dealer", direction: "consume" },
    ],
    { epoch: 1n, ordersOpen: true },
  );
  await po.applyRoutes({
    upserts: [
      routeFor(runDir.path, "dep-exit", "market_data", "sub", [address]),
      routeFor(runDir.path, "dep-exit", "orders", "dealer", [gateway.lastEndpoint ?? ""]),
    ],
    removals: [],
  });
  const strategy = new TestSubscriber(endpoints["market_data"] ?? "", ["ES"]);
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(endpoints["orders"] ?? "");
  await waitFor(() => strategy.received.length > 10, "ticks");
  await waitFor(() => po.counters().every((c) => c.connectedRemotes === 1), "connections");
  await dealer.send(
    JSON.stringify({ account: "A", clientOrderId: "x", symbol: "ES", side: "buy", qty: 1, type: "market" }),
  );
  const [peer] = await gateway.receive();
  await gateway.send([peer ?? Buffer.alloc(0), JSON.stringify({ type: "ack", clientOrderId: "x" })]);
  await dealer.receive();
  await sleep(20);

  await po.removeDeployment("dep-exit");
  await po.close();
  await strategy.close();
  dealer.close();
  gateway.close();
  await feeder.close();
  runDir.remove();
  // stdout and stderr are pipes to the parent; nothing else may be left.
  process.stdout.write(`closed ${baseline} ${JSON.stringify(process.getActiveResourcesInfo())}\n`);
}
