/**
 * Fuzzing the gateway's boundaries (issue 17, item 7) through its real sockets: arbitrary frames
 * (bytes, any JSON, near-valid envelopes and control requests) go to the orders and control
 * ROUTERs of a running gateway. Each property: every frame gets exactly one answer — an order
 * reply (a refusal carries a gateway reject code) or a control answer (`ok: false` carries a
 * HiveError code) — and the gateway stays up (its `failure` never settles, `status` answers).
 *
 * Market-data sources are drawn from loopback addresses only: a `marketData` request makes the
 * gateway connect to them.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import * as zmq from "zeromq";
import { ErrorCode } from "../core/hive-error.ts";
import { GatewayRejectCode } from "../protocol/orders/index.ts";
import { GatewayClient } from "./control-client.ts";
import { CONTROL_OPS } from "./control-protocol.ts";
import { startGateway, type RunningGateway } from "./gateway-server.ts";
import { envelope } from "./testing/order-client.ts";

const HIVE_CODES = new Set<string>(Object.values(ErrorCode));
const REJECT_CODES = new Set<string>(Object.values(GatewayRejectCode));
const RUNS = { numRuns: 150 };

/** A DEALER that sends one frame and reads the one answer to it. */
function dealerAt(address: string): { ask(frame: Buffer): Promise<Buffer>; close(): void } {
  const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 5_000 });
  dealer.connect(address);
  return {
    async ask(frame) {
      await dealer.send(frame);
      const [answer, ...more] = await dealer.receive();
      assert.equal(more.length, 0, "one answer frame");
      return answer ?? Buffer.alloc(0);
    },
    close: () => dealer.close(),
  };
}

const anyJson = fc.jsonValue({ maxDepth: 3 });
const loopbackSources = fc.array(
  fc.constantFrom(
    "tcp://127.0.0.1:1",
    "tcp://127.0.0.1:65535",
    "tcp://127.0.0.1",
    "tcp://127.0.0.1:99999",
    "tcp://",
    "tcp://127.0.0.1:-1",
    "tcp://127.0.0.1:abc",
  ),
  { maxLength: 3 },
);

/** Control requests: any bytes, any JSON, and objects with a real op and arbitrary arguments. */
const controlFrame = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? "")),
  fc
    .record(
      {
        id: fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), anyJson),
        op: fc.oneof(fc.constantFrom(...CONTROL_OPS), anyJson),
        account: fc.oneof(fc.constantFrom("A", "B", ""), anyJson),
        deploymentId: fc.oneof(fc.constantFrom("dep-1", "dep-2"), anyJson),
        epoch: fc.oneof(
          fc.bigInt({ min: 0n, max: 2n ** 66n }).map(String),
          fc.constantFrom("-1", "01", "1e3", " 1", "18446744073709551616"),
          anyJson,
        ),
        nodeKey: fc.oneof(fc.string({ minLength: 40, maxLength: 40 }), anyJson),
        reason: anyJson,
        sources: fc.oneof(loopbackSources, fc.constant("tcp://127.0.0.1:1")),
        afterSeq: anyJson,
        limit: fc.oneof(fc.integer({ min: -5, max: 20_000 }), anyJson),
      },
      { requiredKeys: ["op"] },
    )
    .map((r) => Buffer.from(JSON.stringify(r))),
);

/** Order frames: any bytes, any JSON, and envelopes with arbitrary fields over a valid one. */
const orderFrame = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? "")),
  fc
    .record(
      {
        deploymentId: anyJson,
        epoch: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String), anyJson),
        account: fc.oneof(fc.constantFrom("A", "B"), anyJson),
        clientOrderId: fc.oneof(fc.string({ minLength: 1, maxLength: 140 }), anyJson),
        sentAtUnixMs: fc.oneof(fc.constant(Date.now()), fc.double(), anyJson),
        order: anyJson,
        symbol: anyJson,
        qty: fc.oneof(fc.double(), anyJson),
      },
      { requiredKeys: [] },
    )
    .map((fields) => {
      const base = JSON.parse(envelope("dep-1", 1n, { account: "A", clientOrderId: "x" })) as Record<
        string,
        unknown
      >;
      return Buffer.from(JSON.stringify({ ...base, ...fields }));
    }),
);

describe("fuzz: the gateway's orders and control sockets", () => {
  let dir: string;
  let gw: RunningGateway;
  let failed = false;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "hive-gw-fuzz-"));
    gw = await startGateway({
      stateDir: dir,
      ordersListen: "tcp://127.0.0.1:0",
      controlListen: "tcp://127.0.0.1:0",
      insecure: true,
    });
    gw.failure.catch(() => {
      failed = true;
    });
    gw.setPrice("ESZ6", 100);
    const control = new GatewayClient({ address: gw.controlAddress });
    await control.fence("A", "dep-1", 1n);
    await control.close();
  });

  after(async () => {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("control: every request gets one answer; a refusal carries a HiveError code", async () => {
    const control = dealerAt(gw.controlAddress);
    try {
      await fc.assert(
        fc.asyncProperty(controlFrame, async (frame) => {
          const answer = JSON.parse((await control.ask(frame)).toString()) as Record<string, unknown>;
          assert.equal(typeof answer["id"], "string");
          if (answer["ok"] === true) return;
          assert.equal(answer["ok"], false);
          assert.ok(HIVE_CODES.has(String(answer["code"])), `code ${String(answer["code"])}`);
          assert.notEqual(
            answer["code"],
            ErrorCode.Internal,
            `an internal error: ${String(answer["error"])}`,
          );
          assert.equal(typeof answer["error"], "string");
        }),
        RUNS,
      );
    } finally {
      control.close();
    }
    assert.equal(failed, false, "the gateway is up");
  });

  test("found by fuzzing: a market-data source ZeroMQ refuses is invalid_argument (it was internal), and undoes the list", async () => {
    const control = dealerAt(gw.controlAddress);
    try {
      const frame = Buffer.from(
        JSON.stringify({ id: "m", op: "marketData", sources: ["tcp://127.0.0.1:1", "tcp://127.0.0.1"] }),
      );
      const answer = JSON.parse((await control.ask(frame)).toString()) as Record<string, unknown>;
      assert.equal(answer["code"], ErrorCode.InvalidArgument);
      assert.match(String(answer["error"]), /source "tcp:\/\/127\.0\.0\.1": ZeroMQ cannot connect to it/);
    } finally {
      control.close();
    }
  });

  test("orders: every frame gets one reply; a refusal carries a gateway reject code", async () => {
    const orders = dealerAt(gw.ordersAddress);
    try {
      await fc.assert(
        fc.asyncProperty(orderFrame, async (frame) => {
          const reply = JSON.parse((await orders.ask(frame)).toString()) as Record<string, unknown>;
          assert.equal(typeof reply["type"], "string");
          if (reply["type"] === "reject")
            assert.ok(REJECT_CODES.has(String(reply["code"])), String(reply["code"]));
        }),
        RUNS,
      );
    } finally {
      orders.close();
    }
    assert.equal(failed, false, "the gateway is up");
    const control = new GatewayClient({ address: gw.controlAddress });
    assert.equal(typeof (await control.status()).accepted, "number");
    await control.close();
  });
});
