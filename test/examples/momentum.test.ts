/**
 * examples/programs/momentum.mjs as a runner starts it. The test plays the post office: it binds
 * an XPUB at the strategy's market-data endpoint and a ROUTER at its orders endpoint (both ipc://
 * in a temporary directory), feeds it prices, and answers its orders as the runner and the
 * gateway would. The order frames are checked with the runner's own parser.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { OrderRejectReason, RunnerRejectCode, runnerRejectReply } from "../../src/protocol/orders/index.ts";
import { FakePostOffice, startNode, tempDir, type LogLine } from "./example-kit.ts";

const isReply = (type: string, clientOrderId: string) => (l: LogLine) =>
  l.event === "reply" &&
  (l.reply as { type?: string; clientOrderId?: string }).type === type &&
  (l.reply as { clientOrderId?: string }).clientOrderId === clientOrderId;

test("momentum trades a rising price through its local sockets and stops cleanly on SIGTERM", async () => {
  const dir = tempDir("hive-mom-");
  const postOffice = new FakePostOffice(dir.path);
  await postOffice.bind();
  const strategy = startNode("momentum.mjs", [], {
    HIVE_DEPLOYMENT_ID: "dep-mom-1",
    HIVE_LAYOUT: "live-momentum",
    HIVE_SERVICE: "momentum",
    HIVE_NODE_ID: "node-test",
    HIVE_SOCKET_MARKET_DATA: postOffice.marketDataEndpoint,
    HIVE_SOCKET_ORDERS: postOffice.ordersEndpoint,
    ACCOUNT: "acct-test",
    LOOKBACK: "5",
    MAX_POSITION: "1",
  });
  try {
    assert.equal(await postOffice.subscribed(), "", "subscribed to every symbol");
    let ticks = 0;
    const feed = async (...bids: number[]): Promise<void> => {
      for (const bid of bids) {
        await postOffice.tick(bid);
        ticks += 1;
      }
    };

    // A flat window, then a rise well past 1 bp of the mean: one buy.
    await feed(6400, 6400, 6400, 6400, 6400, 6402);
    const buy = await postOffice.nextOrder();
    assert.deepEqual(Object.keys(buy.raw).sort(), [
      "account",
      "clientOrderId",
      "qty",
      "side",
      "symbol",
      "type",
    ]);
    assert.deepEqual(
      { ...buy.order, clientOrderId: "" },
      { account: "acct-test", clientOrderId: "", symbol: "ESZ6", side: "buy", qty: 1, type: "market" },
    );
    assert.match(buy.order.clientOrderId, /^dep-mom-1-[0-9a-z]+-1$/);
    const logged = await strategy.line((l) => l.event === "order", "the order's log line");
    assert.deepEqual(logged.order, buy.raw);

    // The gateway's ack and fill: the strategy is long one.
    await postOffice.reply(buy.peer, { type: "ack", clientOrderId: buy.order.clientOrderId });
    await postOffice.reply(buy.peer, {
      type: "fill",
      clientOrderId: buy.order.clientOrderId,
      symbol: "ESZ6",
      side: "buy",
      qty: 1,
      price: 6402.25,
    });
    await strategy.line(isReply("ack", buy.order.clientOrderId), "the ack's log line");
    const fill = await strategy.line(isReply("fill", buy.order.clientOrderId), "the fill's log line");
    assert.deepEqual(fill.position, { ESZ6: 1 });

    // A malformed tick is counted, not fatal; then a fall: one sell, which the runner rejects.
    await postOffice.marketData.send(["ESZ6", "not json"]);
    await feed(6402, 6402, 6402, 6402, 6402, 6398);
    const sell = await postOffice.nextOrder();
    assert.equal(sell.order.side, "sell");
    assert.match(sell.order.clientOrderId, /^dep-mom-1-[0-9a-z]+-2$/);
    assert.equal(sell.order.clientOrderId.replace(/-2$/, ""), buy.order.clientOrderId.replace(/-1$/, ""));
    await postOffice.reply(
      sell.peer,
      runnerRejectReply(RunnerRejectCode.PathClosed, OrderRejectReason.closed, sell.order.clientOrderId),
    );
    const reject = await strategy.line(isReply("reject", sell.order.clientOrderId), "the reject's log line");
    assert.deepEqual(reject.position, { ESZ6: 1 }, "a rejected order changes no position");

    // Another rise: at MAX_POSITION 1 a long of one may not buy again, so no order. The fall
    // after it may sell: the next order is that sell, which proves the buy was never sent.
    await feed(6398, 6398, 6398, 6398, 6398, 6405);
    await feed(6405, 6405, 6405, 6405, 6405, 6400);
    const sellAgain = await postOffice.nextOrder();
    assert.equal(sellAgain.order.side, "sell");
    assert.match(sellAgain.order.clientOrderId, /-3$/);

    // An unknown reply type is logged and changes nothing.
    await postOffice.reply(sell.peer, { type: "status", note: "from the future" });
    await strategy.line(
      (l) => l.event === "reply" && (l.reply as { type?: string }).type === "status",
      "status",
    );

    assert.deepEqual(await strategy.stop(), { code: 0, signal: null });
    const stop = await strategy.line((l) => l.event === "stop", "the stop line");
    assert.equal(stop.ticks, ticks, "every tick was read before the stop");
    assert.equal(stop.badTicks, 1);
    assert.equal(stop.orders, 3, "no order past the position limit");
    assert.deepEqual([stop.acks, stop.fills, stop.rejects, stop.openOrders], [1, 1, 1, 1]);
    assert.deepEqual(stop.position, { ESZ6: 1 });
    assert.equal(strategy.stderr, "");
  } finally {
    strategy.kill();
    postOffice.close();
    dir.remove();
  }
});

test("momentum without its orders socket says which variable is missing and exits 2", async () => {
  const strategy = startNode("momentum.mjs", [], { HIVE_SOCKET_MARKET_DATA: "ipc:///tmp/none" });
  try {
    assert.deepEqual(await strategy.wait(), { code: 2, signal: null });
    assert.match(strategy.stderr, /HIVE_SOCKET_ORDERS is not set/);
  } finally {
    strategy.kill();
  }
});

test("momentum refuses a bad setting with its name and exits 2", async () => {
  const strategy = startNode("momentum.mjs", [], {
    HIVE_SOCKET_MARKET_DATA: "ipc:///tmp/none-md",
    HIVE_SOCKET_ORDERS: "ipc:///tmp/none-orders",
    LOOKBACK: "one",
  });
  try {
    assert.deepEqual(await strategy.wait(), { code: 2, signal: null });
    assert.match(strategy.stderr, /LOOKBACK: found "one", expected a whole number/);
  } finally {
    strategy.kill();
  }
});
