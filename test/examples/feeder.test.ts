/**
 * examples/programs/feeder.mjs as a runner starts it: it binds the port it is given
 * (HIVE_PORT_MARKET_DATA) and publishes two-frame ticks that a plain SUB receives.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import * as zmq from "zeromq";
import { freePort, SAMPLE, startNode, within } from "./example-kit.ts";

interface Tick {
  symbol: string;
  seq: number;
  ts: number;
  bid: number;
  ask: number;
  last: number;
  size: number;
}

/** Subscribes to everything at `port` and collects [topic, tick] until `enough` says so. */
async function receive(
  port: number,
  enough: (ticks: [string, Tick][]) => boolean,
): Promise<[string, Tick][]> {
  const sub = new zmq.Subscriber({ linger: 0 });
  sub.connect(`tcp://127.0.0.1:${port}`);
  sub.subscribe();
  const got: [string, Tick][] = [];
  try {
    await within(
      10_000,
      "ticks from the feeder",
      (async () => {
        for await (const frames of sub) {
          assert.equal(frames.length, 2, "a tick is two frames: topic and JSON");
          const [topic, payload] = frames;
          got.push([topic?.toString() ?? "", JSON.parse(payload?.toString() ?? "") as Tick]);
          if (enough(got)) return;
        }
      })(),
    );
  } finally {
    sub.close();
  }
  return got;
}

/** Asserts that each symbol's seq goes up by exactly one from message to message. */
function assertSeqRuns(ticks: [string, Tick][]): void {
  const last = new Map<string, number>();
  for (const [, tick] of ticks) {
    const previous = last.get(tick.symbol);
    if (previous !== undefined) assert.equal(tick.seq, previous + 1, `${tick.symbol}: seq after ${previous}`);
    last.set(tick.symbol, tick.seq);
  }
}

test("synthetic ticks: two frames, the topic is the symbol, seq counts up per symbol", async () => {
  const port = await freePort();
  const feeder = startNode("feeder.mjs", ["--symbols", "ESZ6,NQZ6", "--rate", "200"], {
    HIVE_DEPLOYMENT_ID: "dep-feeder-1",
    HIVE_SERVICE: "feeder",
    HIVE_PORT_MARKET_DATA: String(port),
    HIVE_ADDR_MARKET_DATA: `tcp://127.0.0.1:${port}`,
  });
  try {
    const start = await feeder.line((l) => l.event === "start", "the start line");
    assert.equal(start.bind, `tcp://*:${port}`);
    assert.equal(start.mode, "synthetic");

    const ticks = await receive(port, (got) => got.filter(([t]) => t === "NQZ6").length >= 10);
    for (const [topic, tick] of ticks) {
      assert.equal(topic, tick.symbol);
      assert.ok(["ESZ6", "NQZ6"].includes(tick.symbol));
      assert.ok(Number.isSafeInteger(tick.seq) && tick.seq >= 1);
      assert.ok(Math.abs(tick.ts - Date.now()) < 60_000, "ts is the publish time in ms");
      assert.ok(tick.bid > 0 && tick.ask > tick.bid, `bid ${tick.bid} < ask ${tick.ask}`);
      assert.ok(tick.last === tick.bid || tick.last === tick.ask);
      assert.ok(Number.isSafeInteger(tick.size) && tick.size >= 1);
      assert.deepEqual(Object.keys(tick).sort(), ["ask", "bid", "last", "seq", "size", "symbol", "ts"]);
    }
    assertSeqRuns(ticks);

    assert.deepEqual(await feeder.stop(), { code: 0, signal: null });
    const stop = await feeder.line((l) => l.event === "stop", "the stop line");
    assert.ok((stop.published as number) >= ticks.length);
  } finally {
    feeder.kill();
  }
});

test("replay of the dataset in HIVE_DATASET_TICKS: tick n is row n of the CSV", async () => {
  const rows = readFileSync(SAMPLE, "utf8").split("\n").slice(1, 200);
  const port = await freePort();
  const feeder = startNode("feeder.mjs", ["--rate", "500"], {
    HIVE_PORT_MARKET_DATA: String(port),
    HIVE_DATASET_TICKS: SAMPLE,
  });
  try {
    await feeder.line((l) => l.event === "start" && l.mode === "replay", "the start line");
    const ticks = await receive(port, (got) => got.length >= 20);
    assertSeqRuns(ticks);
    for (const [topic, tick] of ticks) {
      const [, symbol, bid, ask, last, size] = (rows[tick.seq - 1] ?? "").split(",");
      assert.equal(topic, symbol);
      assert.deepEqual(
        [tick.bid, tick.ask, tick.last, tick.size],
        [Number(bid), Number(ask), Number(last), Number(size)],
        `seq ${tick.seq}`,
      );
    }
    assert.deepEqual(await feeder.stop(), { code: 0, signal: null });
  } finally {
    feeder.kill();
  }
});

test("without a port to bind it says so and exits 2", async () => {
  const feeder = startNode("feeder.mjs", [], {});
  try {
    assert.deepEqual(await feeder.wait(), { code: 2, signal: null });
    assert.match(feeder.stderr, /HIVE_PORT_MARKET_DATA/);
  } finally {
    feeder.kill();
  }
});
