import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { PostOffice } from "./post-office.ts";
import { MAX_RESTARTS, RelayThread, REST_FIRST_MS } from "./relay-thread.ts";
import {
  recordingLog,
  routeFor,
  tempRunDir,
  TestFeeder,
  TestSubscriber,
  waitFor,
} from "./testing/post-office-kit.ts";

describe("post office: market data through the relay", () => {
  const runDir = tempRunDir();
  const feederA = new TestFeeder("A");
  const feederB = new TestFeeder("B");
  let addressA = "";
  let addressB = "";

  before(async () => {
    addressA = await feederA.bind();
    addressB = await feederB.bind();
    // NQ is published but never subscribed to: it must never arrive.
    feederA.start(["ES", "NQ"]);
    feederB.start(["ES", "NQ"]);
  });

  after(async () => {
    await feederA.close();
    await feederB.close();
    runDir.remove();
  });

  test("moves a route from feeder A to feeder B and fans in both, with no strategy disconnect", async () => {
    const po = new PostOffice({ runDir: runDir.path });
    const endpoints = await po.addDeployment(
      "dep-md",
      [
        { name: "market_data", pattern: "sub", direction: "consume" },
        { name: "signals", pattern: "pub", direction: "offer" },
      ],
      { epoch: 1n, ordersOpen: true },
    );
    assert.deepEqual(Object.keys(endpoints), ["market_data"], "offered sockets get no local endpoint");
    const local = endpoints["market_data"] ?? "";
    assert.equal(local, `ipc://${runDir.path}/strategies/dep-md/market_data`);
    const strategy = new TestSubscriber(local, ["ES"]);
    const route = (remotes: string[]) => ({
      upserts: [routeFor(runDir.path, "dep-md", "market_data", "sub", remotes)],
      removals: [],
    });
    try {
      await po.applyRoutes(route([addressA]));
      await waitFor(() => strategy.seen("A"), "ticks from feeder A");

      await po.applyRoutes(route([addressB]));
      const afterMove = strategy.received.length;
      await waitFor(() => strategy.seen("B", afterMove), "ticks from feeder B after the move");
      // Anything of A's still in flight arrives within a few ms of the move; after that, only B.
      await sleep(50);
      const settled = strategy.received.length;
      await sleep(150);
      assert.ok(!strategy.seen("A", settled), "no tick from A once the route moved to B");
      assert.ok(strategy.seen("B", settled));

      await po.applyRoutes(route([addressB, addressA]));
      const afterFanIn = strategy.received.length;
      await waitFor(
        () => strategy.seen("A", afterFanIn) && strategy.seen("B", afterFanIn),
        "ticks from both feeders",
      );
      // Idempotent: the same route again changes nothing.
      await po.applyRoutes(route([addressA, addressB]));
      const counters = po.counters();
      assert.equal(counters.length, 1);
      assert.deepEqual(counters[0]?.remotes, [addressB, addressA]);
      await waitFor(() => po.counters()[0]?.connectedRemotes === 2, "both remotes connected");

      assert.ok(
        strategy.received.every((m) => m.topic === "ES"),
        "only subscribed topics arrive (the subscription reached both feeders through the relay)",
      );
      assert.deepEqual(
        strategy.events.filter((e) => e === "disconnect" || e === "close" || e === "connect:retry"),
        [],
        `the strategy's socket never disconnected; its events were ${strategy.events.join(", ")}`,
      );
      assert.equal(strategy.events.filter((e) => e === "connect").length, 1, "exactly one connect");
    } finally {
      await strategy.close();
      await po.close();
    }
    assert.ok(!existsSync(`${runDir.path}/strategies/dep-md`), "the deployment's directory is gone");
  });

  test("a feeder that stays in the route loses and repeats nothing while others come and go", async () => {
    const steady = new TestFeeder("S");
    const steadyAddress = await steady.bind();
    const po = new PostOffice({ runDir: runDir.path });
    const endpoints = await po.addDeployment(
      "dep-steady",
      [{ name: "market_data", pattern: "sub", direction: "consume" }],
      { epoch: 1n, ordersOpen: true },
    );
    const strategy = new TestSubscriber(endpoints["market_data"] ?? "", ["ES"]);
    const route = (remotes: string[]) =>
      po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-steady", "market_data", "sub", remotes)],
        removals: [],
      });
    try {
      await route([steadyAddress]);
      steady.start(["ES"], 1);
      await waitFor(() => strategy.seen("S"), "ticks from the steady feeder");
      // Add A, swap A for B, drop B: the steady feeder's stage is never touched.
      for (const others of [[addressA], [addressB], []]) {
        await route([steadyAddress, ...others]);
        await sleep(30);
      }
      const before = steady.sent;
      await waitFor(() => strategy.received.some((m) => m.src === "S" && m.n > before), "later steady ticks");
      const ns = strategy.received.filter((m) => m.src === "S").map((m) => m.n);
      const first = ns[0] ?? 0;
      assert.deepEqual(
        ns,
        ns.map((_, i) => first + i),
        "the steady feeder's ticks arrive once each, in order, without a gap",
      );
      assert.ok(strategy.seen("A") && strategy.seen("B"), "the others did come and go");
    } finally {
      await strategy.close();
      await po.close();
      await steady.close();
    }
  });

  test("a removal routes the socket to nobody and keeps the local endpoint", async () => {
    const po = new PostOffice({ runDir: runDir.path });
    const endpoints = await po.addDeployment(
      "dep-rm",
      [{ name: "market_data", pattern: "sub", direction: "consume" }],
      { epoch: 1n, ordersOpen: false },
    );
    const strategy = new TestSubscriber(endpoints["market_data"] ?? "", ["ES"]);
    try {
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-rm", "market_data", "sub", [addressA])],
        removals: [],
      });
      await waitFor(() => strategy.seen("A"), "ticks from feeder A");
      await po.applyRoutes({ upserts: [], removals: [{ deploymentId: "dep-rm", socket: "market_data" }] });
      assert.deepEqual(po.counters()[0]?.remotes, []);
      await waitFor(() => po.counters()[0]?.connectedRemotes === 0, "no remote connected");
      await sleep(50);
      const quiet = strategy.received.length;
      await sleep(100);
      assert.equal(strategy.received.length, quiet, "nothing arrives once the route is removed");
      assert.ok(existsSync(`${runDir.path}/strategies/dep-rm/market_data`), "the local endpoint stays");
    } finally {
      await strategy.close();
      await po.close();
    }
  });

  test("counts exactly what reaches the strategy's topics, and nothing else", async () => {
    const feeder = new TestFeeder("M");
    const second = new TestFeeder("S");
    const address = await feeder.bind();
    const secondAddress = await second.bind();
    const po = new PostOffice({ runDir: runDir.path });
    const endpoints = await po.addDeployment(
      "dep-count",
      [{ name: "market_data", pattern: "sub", direction: "consume" }],
      { epoch: 1n, ordersOpen: true },
    );
    const strategy = new TestSubscriber(endpoints["market_data"] ?? "", ["ES"]);
    const counted = () => po.counters()[0]?.messages ?? 0;
    const countedBytes = () => po.counters()[0]?.bytes ?? 0;
    // Sends one tick at a time until the strategy and the counters each see exactly that one, so
    // that every subscription is in place before a batch is counted.
    const warmUp = async (from: TestFeeder, topic: string) => {
      for (let i = 0; i < 500; i++) {
        const [s0, c0] = [strategy.received.length, counted()];
        await from.pub.send([topic, JSON.stringify({ src: "warmup", n: i })]);
        await sleep(10);
        if (strategy.received.length === s0 + 1 && counted() === c0 + 1) return;
      }
      throw new Error(`warm-up of ${from.name}/${topic} never settled`);
    };
    const batch = async (from: TestFeeder, ticks: number, topics: readonly string[]) => {
      let bytes = 0;
      for (let n = 0; n < ticks; n++) {
        for (const topic of topics) {
          const body = JSON.stringify({ src: from.name, n });
          await from.pub.send([topic, body]);
          bytes += topic.length + Buffer.byteLength(body);
        }
        await sleep(1);
      }
      return bytes;
    };
    try {
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-count", "market_data", "sub", [address])],
        removals: [],
      });
      await warmUp(feeder, "ES");
      let [count, bytes, seen] = [counted(), countedBytes(), strategy.received.length];
      // NQ is published too but not subscribed: neither the strategy nor the counters may see it.
      const esBytes = await batch(feeder, 50, ["ES"]);
      await batch(feeder, 50, ["NQ"]);
      await waitFor(() => strategy.received.length === seen + 50, "the 50 ES ticks at the strategy");
      await waitFor(() => counted() === count + 50, "a count of 50");
      assert.equal(countedBytes(), bytes + esBytes);

      // A topic subscribed later reaches the feeder and is counted.
      strategy.sub.subscribe("NQ");
      await warmUp(feeder, "NQ");
      [count, bytes, seen] = [counted(), countedBytes(), strategy.received.length];
      const bothBytes = await batch(feeder, 30, ["ES", "NQ"]);
      await waitFor(() => strategy.received.length === seen + 60, "60 ES and NQ ticks at the strategy");
      await waitFor(() => counted() === count + 60, "a count of 60");
      assert.equal(countedBytes(), bytes + bothBytes);

      // A second feeder added to the route is counted too.
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-count", "market_data", "sub", [address, secondAddress])],
        removals: [],
      });
      await warmUp(second, "ES");
      [count, seen] = [counted(), strategy.received.length];
      await batch(second, 20, ["ES"]);
      await waitFor(() => strategy.received.length === seen + 20, "20 ticks of the second feeder");
      await waitFor(() => counted() === count + 20, "a count of 20");

      const now = po.counters()[0];
      assert.equal(now?.drops, 0, "nothing was dropped: the strategy kept up");
      assert.equal(now?.kind, "market-data");
    } finally {
      await strategy.close();
      await po.close();
      await feeder.close();
      await second.close();
    }
  });

  test("a relay thread that dies is started again: relays reopen with their routes, strategies reconnect", async () => {
    const log = recordingLog();
    const errors = log.lines;
    const po = new PostOffice({ runDir: runDir.path, log });
    const endpoints = await po.addDeployment(
      "dep-crash",
      [{ name: "market_data", pattern: "sub", direction: "consume" }],
      { epoch: 1n, ordersOpen: false },
    );
    const strategy = new TestSubscriber(endpoints["market_data"] ?? "", ["ES"]);
    const thread = RelayThread.acquire();
    try {
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-crash", "market_data", "sub", [addressA])],
        removals: [],
      });
      await waitFor(() => strategy.seen("A"), "ticks before the crash");
      const counted = po.counters()[0]?.messages ?? 0;
      await thread.crashForTest();
      await waitFor(
        () => errors.some((e) => /relay thread failed; restarting/.test(e)),
        "the restart logged",
      );
      await waitFor(() => strategy.events.includes("disconnect"), "the strategy saw its peer go");
      const after = strategy.received.length;
      await waitFor(() => strategy.seen("A", after), "ticks after the restart", 10_000);
      assert.deepEqual(po.counters()[0]?.remotes, [addressA], "the route survived");
      assert.ok((po.counters()[0]?.messages ?? 0) > counted, "the counters go on from where they were");
      // The route can still be changed.
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-crash", "market_data", "sub", [addressB])],
        removals: [],
      });
      const moved = strategy.received.length;
      await waitFor(() => strategy.seen("B", moved), "ticks from B after the move");
    } finally {
      await thread.release();
      await strategy.close();
      await po.close();
    }
  });

  test("a relay thread that dies again before it is ready: what waits is answered once one is", async () => {
    const po = new PostOffice({ runDir: runDir.path });
    const feeder = new TestFeeder("G");
    const address = await feeder.bind();
    feeder.start(["ES"], 1);
    const endpoints = await po.addDeployment(
      "dep-twice",
      [{ name: "market_data", pattern: "sub", direction: "consume" }],
      { epoch: 1n, ordersOpen: false },
    );
    const strategy = new TestSubscriber(endpoints["market_data"] ?? "", ["ES"]);
    const thread = RelayThread.acquire();
    try {
      await thread.crashForTest();
      // Asked while the new thread starts, which is then killed too before it is ready.
      const routed = po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-twice", "market_data", "sub", [address])],
        removals: [],
      });
      await sleep(20);
      await thread.crashForTest();
      await routed;
      await waitFor(() => strategy.seen("G"), "ticks through the third thread", 10_000);
      assert.deepEqual(po.counters()[0]?.remotes, [address]);
    } finally {
      await thread.release();
      await strategy.close();
      await po.close();
      await feeder.close();
    }
  });

  test("after a restart, a remote that is gone counts as not connected", async () => {
    const po = new PostOffice({ runDir: runDir.path });
    const feeder = new TestFeeder("H");
    const address = await feeder.bind();
    await po.addDeployment("dep-gone", [{ name: "market_data", pattern: "sub", direction: "consume" }], {
      epoch: 1n,
      ordersOpen: false,
    });
    const thread = RelayThread.acquire();
    try {
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-gone", "market_data", "sub", [address])],
        removals: [],
      });
      await waitFor(() => po.counters()[0]?.connectedRemotes === 1, "connected");
      await feeder.close();
      await thread.crashForTest();
      await po.ready();
      await sleep(300);
      assert.equal(po.counters()[0]?.connectedRemotes, 0);
    } finally {
      await thread.release();
      await po.close();
    }
  });

  test(`a relay thread that keeps dying rests after ${MAX_RESTARTS} restarts in a minute, then comes back with its relays`, async () => {
    const log = recordingLog();
    const errors = log.lines;
    const po = new PostOffice({ runDir: runDir.path, log });
    const endpoints = await po.addDeployment(
      "dep-dying",
      [
        { name: "market_data", pattern: "sub", direction: "consume" },
        { name: "orders", pattern: "dealer", direction: "consume" },
      ],
      { epoch: 1n, ordersOpen: false },
    );
    const strategy = new TestSubscriber(endpoints["market_data"] ?? "", ["ES"]);
    const thread = RelayThread.acquire();
    const route = (remotes: string[], gateway?: string) =>
      po.applyRoutes({
        upserts: [
          routeFor(runDir.path, "dep-dying", "market_data", "sub", remotes),
          ...(gateway === undefined
            ? []
            : [routeFor(runDir.path, "dep-dying", "orders", "dealer", [gateway])]),
        ],
        removals: [],
      });
    const marketData = () => po.counters().find((c) => c.socket === "market_data");
    try {
      await route([addressA]);
      await waitFor(() => marketData()?.connectedRemotes === 1, "connected");
      for (let i = 0; i <= MAX_RESTARTS; i++) {
        await po.ready();
        await thread.crashForTest();
      }
      // Resting: a route update fails at once with the reason, and nothing reads as connected;
      // the order path of the same update is routed all the same.
      await assert.rejects(
        route([addressB], "tcp://127.0.0.1:45999"),
        new RegExp(
          `died ${MAX_RESTARTS + 1} times within a minute .*; next start in ${REST_FIRST_MS / 1000} s`,
        ),
      );
      assert.equal(marketData()?.connectedRemotes, 0);
      assert.deepEqual(po.counters().find((c) => c.socket === "orders")?.remotes, ["tcp://127.0.0.1:45999"]);
      assert.ok(
        errors.some((e) => /market-data relay thread down/.test(e)),
        errors.join("\n"),
      );
      // After the rest the thread is back, the relay reopened with the route last asked for.
      const after = strategy.received.length;
      await waitFor(() => strategy.seen("B", after), "ticks from B after the rest", 10_000);
      assert.deepEqual(marketData()?.remotes, [addressB]);
    } finally {
      await thread.release();
      await strategy.close();
      await po.close();
    }
  });
});
