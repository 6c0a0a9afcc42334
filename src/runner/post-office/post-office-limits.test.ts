/**
 * The post office's size limits against real ZeroMQ peers: a strategy's oversized order frame is
 * refused by libzmq before it is read (the frame is never parsed, the runner stays up, other
 * strategies keep trading), and the market-data relay honours the limits it is configured with.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { PostOffice } from "./post-office.ts";
import { compilePostOfficeOptions, DEFAULT_MAX_ORDER_BYTES } from "./post-office-options.ts";
import {
  recordingLog,
  routeFor,
  tempRunDir,
  testOrder,
  TestGateway,
  TestStrategy,
  waitFor,
} from "./testing/post-office-kit.ts";

const MiB = 1024 * 1024;

describe("post office: size limits on the order sockets", () => {
  const runDir = tempRunDir();
  const gateway = new TestGateway();
  const log = recordingLog();
  const po = new PostOffice({ runDir: runDir.path, log });
  const strategies = new Map<string, TestStrategy>();
  const orders = (deploymentId: string) => {
    const c = po.counters().find((r) => r.deploymentId === deploymentId);
    assert.ok(c?.orders !== undefined);
    return c.orders;
  };
  const strategy = (id: string) => strategies.get(id) ?? assert.fail(`no strategy ${id}`);

  before(async () => {
    await gateway.bind(true);
    for (const id of ["dep-big", "dep-other"]) {
      const endpoints = await po.addDeployment(
        id,
        [{ name: "orders", pattern: "dealer", direction: "consume" }],
        { epoch: 1n, ordersOpen: true },
      );
      strategies.set(id, new TestStrategy(endpoints["orders"] ?? ""));
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, id, "orders", "dealer", [gateway.address])],
        removals: [],
      });
    }
    await waitFor(
      () => po.counters().every((c) => c.connectedRemotes === 1),
      "both order paths connected to the gateway",
    );
  });

  after(async () => {
    for (const s of strategies.values()) await s.close();
    await po.close();
    await gateway.close();
    runDir.remove();
  });

  test("a 64 MiB frame is refused unread: no parse, no reply, the strategy reconnects; others keep trading", async () => {
    const big = strategy("dep-big");
    const other = strategy("dep-other");
    await big.order(testOrder("big-before"));
    await waitFor(() => big.replies.length === 1, "the ack of the order before");

    // The other strategy trades all along: one order every 2 ms, each must be acked.
    let sending = true;
    let sent = 0;
    const flow = (async () => {
      // Until the peer is done, and at least 50 orders in all (bounded: 2,000).
      for (; (sending || sent < 50) && sent < 2_000; sent++) {
        await other.order(testOrder(`other-${sent}`));
        await sleep(2);
      }
    })();
    try {
      await sleep(20);
      await big.dealer.send(Buffer.alloc(64 * MiB, 0x7b)); // "{{{{…": malformed, if it were parsed
      await waitFor(
        () => orders("dep-big").strategyDisconnects === 1,
        "the oversized frame's connection closed",
      );
      // The strategy's DEALER reconnects by itself; its next order goes through.
      await waitFor(
        () => big.events.filter((e) => e === "handshake").length >= 2,
        "the strategy reconnected",
      );
      await big.order(testOrder("big-after"));
      await waitFor(() => big.replies.length === 2, "the ack of the order after");
      await sleep(50);
    } finally {
      sending = false;
      await flow;
    }
    assert.deepEqual(
      big.replies.map((r) => r["clientOrderId"]),
      ["big-before", "big-after"],
      "the oversized frame got no reply: it was never read",
    );
    const figures = orders("dep-big");
    assert.equal(figures.droppedMalformed, 0, "the oversized frame was never parsed");
    assert.equal(figures.forwarded, 2);
    assert.ok(big.events.includes("disconnect"), "the strategy saw its connection closed");
    assert.ok(
      log.lines.some(
        (l) => l.includes("a strategy connection closed") && l.includes('"maxOrderBytes":65536'),
      ),
    );
    // The other strategy: every order acked, none dropped, its connection never closed.
    await waitFor(() => other.replies.length === sent, `acks for all ${sent} orders of the other strategy`);
    assert.equal(orders("dep-other").strategyDisconnects, 0);
    assert.equal(po.counters().find((c) => c.deploymentId === "dep-other")?.drops, 0);
    assert.ok(!other.events.includes("disconnect"));
  });

  test("a frame at the limit is still read, and answered as the malformed order it is", async () => {
    const big = strategy("dep-big");
    const before = big.replies.length;
    const disconnects = orders("dep-big").strategyDisconnects;
    await big.dealer.send(Buffer.alloc(DEFAULT_MAX_ORDER_BYTES, 0x20)); // whitespace: not JSON
    await waitFor(() => big.replies.length === before + 1, "the reject");
    assert.equal(big.replies[before]?.["code"], "bad-order");
    assert.equal(orders("dep-big").strategyDisconnects, disconnects);
  });
});

describe("post office: the size limits are configuration", () => {
  test("invalid limits are refused naming the field", () => {
    const compile = (limits: Record<string, number>) => () =>
      compilePostOfficeOptions({ runDir: "/r", limits });
    const invalid = (field: RegExp) => (err: unknown) =>
      err instanceof HiveError && err.code === ErrorCode.InvalidArgument && field.test(err.message);
    assert.throws(compile({ maxOrderBytes: 100 }), invalid(/limits\.maxOrderBytes 100: .*at least 4096/));
    assert.throws(compile({ maxOrderBytes: 1.5e4 + 0.5 }), invalid(/maxOrderBytes/));
    assert.throws(
      compile({ maxMarketDataFrameBytes: 8192, maxMarketDataMessageBytes: 4096 }),
      invalid(/maxMarketDataMessageBytes 4096: .*at least maxMarketDataFrameBytes \(8192\)/),
    );
    assert.deepEqual(compilePostOfficeOptions({ runDir: "/r" }).limits, {
      maxOrderBytes: 64 * 1024,
      maxMarketDataFrameBytes: 256 * MiB,
      maxMarketDataMessageBytes: 256 * MiB,
    });
  });

  test("an order limit from the options: 10 KiB closes the connection at 8 KiB, 6 KiB is parsed", async () => {
    const runDir = tempRunDir();
    const po = new PostOffice({ runDir: runDir.path, limits: { maxOrderBytes: 8 * 1024 } });
    const endpoints = await po.addDeployment(
      "dep-1",
      [{ name: "orders", pattern: "dealer", direction: "consume" }],
      { epoch: 1n, ordersOpen: true },
    );
    const s = new TestStrategy(endpoints["orders"] ?? "");
    const figures = () => po.counters()[0]?.orders ?? assert.fail("no order path");
    try {
      await s.dealer.send(Buffer.alloc(10 * 1024, 0x20));
      await waitFor(() => figures().strategyDisconnects === 1, "the connection closed");
      await waitFor(() => s.events.filter((e) => e === "handshake").length >= 2, "the strategy reconnected");
      await s.dealer.send(Buffer.alloc(6 * 1024, 0x20));
      await waitFor(() => s.replies.length === 1, "the reject of the 6 KiB frame");
      assert.equal(s.replies[0]?.["code"], "bad-order");
      assert.equal(figures().droppedMalformed, 1, "only the frame under the limit was parsed");
    } finally {
      await s.close();
      await po.close();
      runDir.remove();
    }
  });

  test("market data: a feeder's frame or message over the configured limits closes its link, and is not delivered", async () => {
    const runDir = tempRunDir();
    const log = recordingLog();
    const po = new PostOffice({
      runDir: runDir.path,
      log,
      limits: { maxMarketDataFrameBytes: 4096, maxMarketDataMessageBytes: 8192 },
    });
    const pub = new zmq.Publisher({ linger: 0 });
    await pub.bind("tcp://127.0.0.1:*");
    const endpoints = await po.addDeployment(
      "dep-md",
      [{ name: "market_data", pattern: "sub", direction: "consume" }],
      { epoch: 1n, ordersOpen: true },
    );
    const sub = new zmq.Subscriber({ linger: 0, receiveTimeout: 20 });
    sub.connect(endpoints["market_data"] ?? "");
    sub.subscribe("ES");
    const received: number[][] = [];
    /** Publishes `frames` until one arrives (the link may be reconnecting), at most `tries` times. */
    const publishUntilSeen = async (frames: Buffer[], tries = 300): Promise<boolean> => {
      for (let i = 0; i < tries; i++) {
        await pub.send(frames);
        try {
          received.push((await sub.receive()).map((f) => f.length));
          return true;
        } catch {
          // EAGAIN: nothing within the receive timeout
        }
      }
      return false;
    };
    try {
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-md", "market_data", "sub", [pub.lastEndpoint ?? ""])],
        removals: [],
      });
      const small = [Buffer.from("ES"), Buffer.alloc(1000)];
      assert.ok(await publishUntilSeen(small), "a small message flows");
      await pub.send([Buffer.from("ES"), Buffer.alloc(5000)]);
      await waitFor(
        () => log.lines.some((l) => l.includes("over the limit of 4096 bytes")),
        "the frame refused",
      );
      assert.ok(await publishUntilSeen(small), "small messages flow again once the link reconnects");
      await pub.send([Buffer.from("ES"), Buffer.alloc(3000), Buffer.alloc(3000), Buffer.alloc(3000)]);
      await waitFor(
        () => log.lines.some((l) => l.includes("a message is over the limit of 8192 bytes")),
        "the message refused",
      );
      assert.ok(await publishUntilSeen(small), "and again");
      assert.ok(
        received.every((lengths) => lengths.every((n) => n <= 1000)),
        `nothing over the limits was delivered: ${JSON.stringify(received)}`,
      );
    } finally {
      sub.close();
      await po.close();
      pub.close();
      runDir.remove();
    }
  });
});
