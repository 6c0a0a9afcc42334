/**
 * The market-data relay against real ZeroMQ peers on loopback: zeromq.js (libzmq 4.3.5) feeders
 * and strategies, and a pyzmq strategy (another libzmq, another language). The relay runs in the
 * test's own thread here; post-office-market-data.test.ts runs it on its thread, as a runner does.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as zmq from "zeromq";
import { MarketDataRelay, RELAY_COUNTERS, RelayCounter } from "./market-data-relay.ts";
import { DEFAULT_MAX_MARKET_DATA_BYTES } from "./post-office-options.ts";
import { recordingLog, tempRunDir, TestFeeder, TestSubscriber, waitFor } from "./testing/post-office-kit.ts";

const LIMITS = {
  maxFrameBytes: DEFAULT_MAX_MARKET_DATA_BYTES,
  maxMessageBytes: DEFAULT_MAX_MARKET_DATA_BYTES,
};
const PYTHON = "/usr/bin/python3";
const pyzmqProbe = spawnSync(PYTHON, ["-c", "import zmq"], { timeout: 10_000 });
if (pyzmqProbe.status !== 0 && process.env.CI === "true")
  throw new Error(`CI=true: pyzmq is not installed for ${PYTHON} (apt-get install python3-zmq)`);
const pyzmq = pyzmqProbe.status === 0 ? {} : { skip: `pyzmq is not installed for ${PYTHON}` };

/** The next message within `ms`, or undefined (the socket's receive timeout; no receive left pending). */
async function receiveWithin(sub: zmq.Subscriber, ms: number): Promise<Buffer[] | undefined> {
  sub.receiveTimeout = ms;
  try {
    return await sub.receive();
  } catch (err) {
    if ((err as { code?: string }).code === "EAGAIN") return undefined;
    throw err;
  } finally {
    sub.receiveTimeout = -1;
  }
}

describe("market-data relay with real ZeroMQ peers", () => {
  const runDir = tempRunDir();
  let seq = 0;
  after(() => runDir.remove());

  async function openRelay(highWaterMark = 10_000) {
    const counters = new Float64Array(RELAY_COUNTERS);
    const log = recordingLog();
    const path = join(runDir.path, `md-${++seq}`);
    const relay = await MarketDataRelay.open({
      path,
      highWaterMark,
      limits: LIMITS,
      label: `test/${seq}`,
      log,
      counters,
    });
    return { relay, counters, log, path, endpoint: `ipc://${path}` };
  }

  test("multipart and large messages arrive whole and in order; long frames and reads cut mid-frame", async () => {
    const pub = new zmq.Publisher({ linger: 0 });
    await pub.bind("tcp://127.0.0.1:*");
    const { relay, counters, endpoint } = await openRelay();
    const sub = new zmq.Subscriber({ linger: 0 });
    sub.connect(endpoint);
    sub.subscribe("M");
    relay.setRemotes([pub.lastEndpoint ?? ""]);
    try {
      // Until the subscription has reached the feeder through the relay.
      for (let i = 0; i < 500; i++) {
        await pub.send(["M", "probe"]);
        if ((await receiveWithin(sub, 10)) !== undefined) break;
      }
      while ((await receiveWithin(sub, 50)) !== undefined);
      const big = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      const messages: Buffer[][] = [
        [Buffer.from("M"), Buffer.alloc(300, 1)],
        [Buffer.from("M"), Buffer.from("a"), Buffer.from(""), Buffer.from("c"), Buffer.alloc(256, 2)],
        [Buffer.from("M"), big],
        [Buffer.from("M"), Buffer.from("last")],
      ];
      const before = counters[RelayCounter.Messages] as number;
      for (const m of messages) await pub.send(m);
      for (const m of messages) {
        const got = await sub.receive();
        assert.deepEqual(
          got.map((f) => f.length),
          m.map((f) => f.length),
        );
        assert.ok(got.every((f, i) => f.equals(m[i] as Buffer)));
      }
      assert.equal((counters[RelayCounter.Messages] as number) - before, messages.length);
    } finally {
      sub.close();
      await relay.close();
      pub.close();
    }
  });

  test("two strategy connections with other topics: each gets its own, the feeder sends only their union", async () => {
    const feeder = new TestFeeder("F");
    const address = await feeder.bind();
    const { relay, counters, endpoint } = await openRelay();
    relay.setRemotes([address]);
    const es = new TestSubscriber(endpoint, ["ES"]);
    const nq = new TestSubscriber(endpoint, ["NQ"]);
    feeder.start(["ES", "NQ", "CL"], 1);
    try {
      await waitFor(() => es.received.length > 20 && nq.received.length > 20, "ticks on both connections");
      assert.ok(es.received.every((m) => m.topic === "ES"));
      assert.ok(nq.received.every((m) => m.topic === "NQ"));
      // CL is published but nobody subscribes: it never crosses the relay.
      await nq.close();
      const after = counters[RelayCounter.Messages] as number;
      const esBefore = es.received.length;
      await sleep(150);
      // With NQ's only holder gone, NQ was cancelled at the feeder: from here on only ES is counted.
      const counted = (counters[RelayCounter.Messages] as number) - after;
      const esGot = es.received.length - esBefore;
      assert.ok(Math.abs(counted - esGot) <= 2, `counted ${counted} messages while ES got ${esGot}`);
    } finally {
      await feeder.close();
      await es.close();
      await relay.close();
    }
  });

  test("a strategy that stops reading: messages past the high-water mark are dropped and counted", async () => {
    const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 0 });
    await pub.bind("tcp://127.0.0.1:*");
    const { relay, counters, endpoint } = await openRelay(200);
    relay.setRemotes([pub.lastEndpoint ?? ""]);
    const sub = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 100 });
    sub.connect(endpoint);
    sub.subscribe("");
    try {
      await waitFor(() => relay.sessions === 1, "the strategy connected");
      // Probe until a message gets through (the subscription is in place), without reading more.
      for (let i = 0; (counters[RelayCounter.Messages] as number) === 0; i++) {
        if (i > 500) throw new Error("no message ever crossed the relay");
        await pub.send(["T", "probe"]);
        await sleep(5);
      }
      const payload = Buffer.alloc(1000);
      for (let i = 0; i < 20_000; i++) await pub.send(["T", payload]);
      await waitFor(() => (counters[RelayCounter.Drops] as number) > 0, "drops");
      // The strategy's SUB, its socket buffer and the relay's queue hold what was written; the
      // rest was dropped, and every message is one or the other.
      const sent = 20_000;
      await waitFor(
        () => (counters[RelayCounter.Messages] as number) + (counters[RelayCounter.Drops] as number) >= sent,
        "every message written or dropped",
      );
      // Once the strategy reads again, new messages flow.
      while ((await receiveWithin(sub, 200)) !== undefined);
      await pub.send(["T", "after"]);
      for (;;) {
        const [, body] = await sub.receive();
        if (body?.toString() === "after") break;
      }
    } finally {
      sub.close();
      await relay.close();
      pub.close();
    }
  });

  test("a feeder that goes away and comes back on the same port: the link reconnects and subscribes again", async () => {
    const first = new zmq.Publisher({ linger: 0 });
    await first.bind("tcp://127.0.0.1:*");
    const address = first.lastEndpoint ?? "";
    const { relay, counters, endpoint } = await openRelay();
    relay.setRemotes([address]);
    const strategy = new TestSubscriber(endpoint, ["ES"]);
    const publish = async (pub: zmq.Publisher, src: string, until: () => boolean) => {
      for (let n = 0; !until(); n++) {
        if (n > 2000) throw new Error(`no tick from ${src} arrived`);
        await pub.send(["ES", JSON.stringify({ src, n })]);
        await sleep(2);
      }
    };
    try {
      await publish(first, "one", () => strategy.seen("one"));
      assert.equal(counters[RelayCounter.ConnectedRemotes], 1);
      first.close();
      await waitFor(() => counters[RelayCounter.ConnectedRemotes] === 0, "the link noticed");
      const second = new zmq.Publisher({ linger: 0 });
      await second.bind(address);
      try {
        await publish(second, "two", () => strategy.seen("two"));
        assert.equal(counters[RelayCounter.ConnectedRemotes], 1);
      } finally {
        second.close();
      }
      assert.deepEqual(
        strategy.events.filter((e) => e === "disconnect" || e === "close"),
        [],
        "the strategy's connection never dropped",
      );
    } finally {
      await strategy.close();
      await relay.close();
    }
  });

  test("heartbeats: PINGs from both sides are answered, so neither drops the connection", async () => {
    const heartbeat = { heartbeatInterval: 30, heartbeatTimeout: 100, heartbeatTimeToLive: 300 };
    const pub = new zmq.Publisher({ linger: 0, ...heartbeat });
    await pub.bind("tcp://127.0.0.1:*");
    const { relay, counters, endpoint } = await openRelay();
    relay.setRemotes([pub.lastEndpoint ?? ""]);
    const sub = new zmq.Subscriber({ linger: 0, ...heartbeat });
    const events: string[] = [];
    const watch = (async () => {
      for await (const e of sub.events) events.push(e.type);
    })();
    sub.connect(endpoint);
    sub.subscribe("");
    try {
      await waitFor(() => relay.sessions === 1 && counters[RelayCounter.ConnectedRemotes] === 1, "both up");
      // Ten heartbeat timeouts with no data: only PINGs and PONGs cross.
      await sleep(1000);
      assert.deepEqual(
        events.filter((e) => e === "disconnect" || e === "close"),
        [],
        `the strategy's events: ${events.join(", ")}`,
      );
      assert.equal(counters[RelayCounter.ConnectedRemotes], 1, "the feeder kept the relay's link");
      await pub.send(["T", "still here"]);
      const [, body] = await sub.receive();
      assert.equal(body?.toString(), "still here");
    } finally {
      sub.close();
      await watch;
      await relay.close();
      pub.close();
    }
  });

  test("refuses peers that are not ZeroMQ subscribers, and goes on serving the others", async () => {
    const feeder = new TestFeeder("F");
    const address = await feeder.bind();
    const { relay, log, path, endpoint } = await openRelay();
    relay.setRemotes([address]);
    const good = new TestSubscriber(endpoint, ["ES"]);
    feeder.start(["ES"], 1);
    const garbage = connect({ path });
    const closed = new Promise<void>((resolve) => garbage.on("close", () => resolve()));
    garbage.on("error", () => undefined);
    garbage.resume(); // reads (the relay's greeting, then the end), or it never sees the close
    garbage.write("GET / HTTP/1.1\r\n\r\n");
    await closed;
    const wrongType = new zmq.Publisher({ linger: 0 });
    wrongType.connect(endpoint);
    try {
      await waitFor(
        () => log.lines.some((l) => /a PUB socket cannot talk to a PUB/.test(l)),
        "the PUB refused",
      );
      assert.ok(
        log.lines.some((l) => /no greeting signature/.test(l)),
        log.lines.join("\n"),
      );
      assert.equal(relay.sessions, 1, "only the subscriber holds a session");
      const before = good.received.length;
      await waitFor(() => good.received.length > before + 10, "ticks to the subscriber after the refusals");
      assert.deepEqual(
        good.events.filter((e) => e === "disconnect"),
        [],
      );
    } finally {
      wrongType.close();
      await feeder.close();
      await good.close();
      await relay.close();
    }
    assert.ok(!existsSync(path), "the socket file is removed on close");
  });

  test("replaces a stale socket file, and refuses to replace anything else", async () => {
    const stale = join(runDir.path, "stale");
    const leftover = new zmq.Publisher({ linger: 0 });
    leftover.bindSync(`ipc://${stale}`);
    leftover.close(); // libzmq leaves the file behind when the process dies; closing here may too
    const counters = new Float64Array(RELAY_COUNTERS);
    const options = { highWaterMark: 10, limits: LIMITS, label: "t", log: recordingLog(), counters };
    const relay = await MarketDataRelay.open({ ...options, path: stale });
    await relay.close();
    const file = join(runDir.path, "not-a-socket");
    writeFileSync(file, "keep me");
    await assert.rejects(MarketDataRelay.open({ ...options, path: file }), /not a socket; refusing/);
    assert.ok(existsSync(file));
  });

  test("a pyzmq strategy (libzmq of its own) receives through the relay", pyzmq, async () => {
    const pub = new zmq.Publisher({ linger: 0 });
    await pub.bind("tcp://127.0.0.1:*");
    const { relay, endpoint } = await openRelay();
    relay.setRemotes([pub.lastEndpoint ?? ""]);
    const script = [
      "import sys, zmq",
      "s = zmq.Context().socket(zmq.SUB)",
      "s.connect(sys.argv[1])",
      "s.setsockopt(zmq.SUBSCRIBE, b'ES')",
      "for _ in range(3):",
      "    topic, body = s.recv_multipart()",
      "    print(topic.decode(), body.decode(), flush=True)",
    ].join("\n");
    const child = spawn(PYTHON, ["-c", script, endpoint], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      for (let n = 0; child.exitCode === null && n < 3000; n++) {
        await pub.send(["NQ", `nq ${n}`]);
        await pub.send(["ES", `es ${n}`]);
        await sleep(2);
      }
      assert.equal(await exited, 0, err);
      const lines = out.trim().split("\n");
      assert.equal(lines.length, 3);
      assert.ok(
        lines.every((l) => /^ES es \d+$/.test(l)),
        out,
      );
    } finally {
      child.kill("SIGKILL");
      await relay.close();
      pub.close();
    }
  });

  test("a burst larger than a small high-water mark reaches a strategy that keeps up", async () => {
    const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 0 });
    await pub.bind("tcp://127.0.0.1:*");
    const { relay, counters, endpoint } = await openRelay(100);
    relay.setRemotes([pub.lastEndpoint ?? ""]);
    const sub = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 0 });
    sub.connect(endpoint);
    sub.subscribe("B");
    try {
      for (let i = 0; (counters[RelayCounter.Messages] as number) === 0; i++) {
        if (i > 500) throw new Error("no message ever crossed the relay");
        await pub.send(["B", "probe"]);
        await sleep(5);
      }
      while ((await receiveWithin(sub, 50)) !== undefined);
      const before = counters[RelayCounter.Messages] as number;
      // 500 small messages at once: one read of the relay may hold more than the mark of 100.
      for (let i = 0; i < 500; i++) await pub.send(["B", String(i)]);
      let got = 0;
      while ((await receiveWithin(sub, 300)) !== undefined) got++;
      assert.equal(counters[RelayCounter.Drops], 0, "nothing waited, so nothing was dropped");
      assert.equal(got, 500);
      assert.equal((counters[RelayCounter.Messages] as number) - before, 500);
    } finally {
      sub.close();
      await relay.close();
      pub.close();
    }
  });

  test("a strategy's subscriptions are a set, as libzmq's XPUB keeps them: its one cancel reaches the feeder", async () => {
    const feeder = new zmq.XPublisher({ linger: 0 });
    await feeder.bind("tcp://127.0.0.1:*");
    const seen: string[] = [];
    const watch = (async () => {
      for await (const [frame] of feeder) {
        if (frame !== undefined && frame.length > 0) seen.push(`${frame[0]}:${frame.toString("latin1", 1)}`);
      }
    })();
    const { relay, endpoint } = await openRelay();
    relay.setRemotes([feeder.lastEndpoint ?? ""]);
    const sub = new zmq.Subscriber({ linger: 0 });
    sub.connect(endpoint);
    try {
      // libzmq's SUB sends a subscription per subscribe() and a cancel only for the last
      // unsubscribe(): two subscriptions, one cancel on the wire.
      sub.subscribe("ES");
      sub.subscribe("ES");
      await waitFor(() => seen.includes("1:ES"), "the subscription at the feeder");
      sub.unsubscribe("ES");
      sub.unsubscribe("ES");
      await waitFor(() => seen.includes("0:ES"), "the cancel at the feeder");
      assert.deepEqual(seen, ["1:ES", "0:ES"]);
    } finally {
      sub.close();
      await relay.close();
      feeder.close();
      await watch;
    }
  });

  test("a route moved between two feeders of one stream loses no message: the old one goes once the new one flows", async () => {
    const a = new zmq.Publisher({ linger: 0 });
    const b = new zmq.Publisher({ linger: 0 });
    await a.bind("tcp://127.0.0.1:*");
    await b.bind("tcp://127.0.0.1:*");
    const { relay, endpoint } = await openRelay();
    relay.setRemotes([a.lastEndpoint ?? ""]);
    const strategy = new TestSubscriber(endpoint, ["ES"]);
    // Two replicas of one feed: the same ticks, numbered, from both, 20 a millisecond.
    let n = 0;
    let running = true;
    const replicas = (async () => {
      for (; running && n < 100_000; n++) {
        for (const pub of [a, b]) await pub.send(["ES", JSON.stringify({ src: pub === a ? "A" : "B", n })]);
        if (n % 20 === 0) await sleep(1);
      }
    })();
    try {
      await waitFor(() => strategy.seen("A"), "ticks from A");
      for (const [to, name] of [
        [b, "B"],
        [a, "A"],
        [b, "B"],
      ] as const) {
        const from = strategy.received.length;
        relay.setRemotes([to.lastEndpoint ?? ""]);
        await waitFor(() => strategy.seen(name, from), `ticks from ${name}`);
        await sleep(50);
      }
      running = false;
      await replicas;
      const ns = [...new Set(strategy.received.map((m) => m.n))].sort((x, y) => x - y);
      const first = ns[0] ?? 0;
      const missing =
        ns.length === 0
          ? []
          : [...Array(ns.at(-1)! - first + 1).keys()].map((i) => i + first).filter((i) => !ns.includes(i));
      assert.deepEqual(missing, [], "every tick from the first on arrived, from one replica or the other");
    } finally {
      running = false;
      await replicas;
      await strategy.close();
      await relay.close();
      a.close();
      b.close();
    }
  });
});
