/**
 * The gateway's frame size limits on its real sockets: a peer that sends a 64 MiB frame to the
 * orders ROUTER (shared or a node's own, with CURVE) or the control ROUTER is disconnected before
 * the frame is read; the frame is never parsed or audited, the gateway stays up, and the other
 * runners' orders keep being answered. The limits come from the YAML config.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as zmq from "zeromq";
import { until } from "../core/testing/until.ts";
import type { CurveKeyPair } from "../core/z85.ts";
import { ValidationError } from "../domain/index.ts";
import { GatewayClient } from "./control-client.ts";
import { compileGatewayConfig, readGatewayConfig } from "./gateway-config.ts";
import { startGateway, type RunningGateway } from "./gateway-server.ts";
import { envelope, OrderClient } from "./testing/order-client.ts";

const MiB = 1024 * 1024;

/** A raw DEALER (optionally a CURVE client) that records its monitor events. */
function rawPeer(address: string, curve?: { serverKey: string; keys: CurveKeyPair }) {
  const dealer = new zmq.Dealer({
    linger: 0,
    ...(curve === undefined
      ? {}
      : {
          curveServerKey: curve.serverKey,
          curvePublicKey: curve.keys.publicKey,
          curveSecretKey: curve.keys.secretKey,
        }),
  });
  const events: string[] = [];
  const watching = (async () => {
    for await (const e of dealer.events) events.push(e.type);
  })();
  dealer.connect(address);
  return {
    dealer,
    events,
    handshakes: () => events.filter((e) => e === "handshake").length,
    close: async () => {
      dealer.close();
      await watching;
    },
  };
}

describe("gateway: frame size limits (insecure sockets)", () => {
  let dir: string;
  let gw: RunningGateway;
  let control: GatewayClient;
  let runner: OrderClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "hive-gw-limits-"));
    gw = await startGateway({
      stateDir: dir,
      ordersListen: "tcp://127.0.0.1:0",
      controlListen: "tcp://127.0.0.1:0",
      insecure: true,
      config: compileGatewayConfig({ risk: { default: { maxOrdersPerSecond: 100_000 } } }),
    });
    control = new GatewayClient({ address: gw.controlAddress });
    runner = new OrderClient(gw.ordersAddress);
    gw.setPrice("ESZ6", 100);
    await control.fence("A", "dep-a", 1n);
    await control.fence("B", "dep-b", 1n);
  });

  after(async () => {
    await runner.close();
    await control.close();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a 64 MiB frame on the orders socket: disconnected unread, nothing audited; the other runner trades throughout", async () => {
    const big = rawPeer(gw.ordersAddress);
    let sending = true;
    let sent = 0;
    const flow = (async () => {
      // Until the peer is done, and at least 50 orders in all (bounded: 2,000).
      for (; (sending || sent < 50) && sent < 2_000; sent++) {
        await runner.send(envelope("dep-a", 1n, { account: "A", clientOrderId: `a-${sent}` }));
        await sleep(2);
      }
    })();
    const rejectedBefore = (await control.status()).rejected["malformed"] ?? 0;
    try {
      await until("the big peer connected", () => big.handshakes() === 1);
      await big.dealer.send(Buffer.alloc(64 * MiB, 0x7b)); // "{{{{…": malformed, if it were parsed
      await until("the big peer disconnected", () => gw.peerDisconnects().orders === 1);
      // Its DEALER reconnects by itself; a valid order from it is then answered.
      await until("the big peer reconnected", () => big.handshakes() === 2);
      await big.dealer.send(envelope("dep-b", 1n, { account: "B", clientOrderId: "b-after" }));
      const [reply] = await big.dealer.receive();
      assert.equal((JSON.parse(reply?.toString() ?? "{}") as { type?: string }).type, "ack");
    } finally {
      sending = false;
      await flow;
      await big.close();
    }
    await until(
      `acks for all ${sent} orders of the other runner`,
      () => runner.replies.filter((r) => r.type === "ack").length === sent,
    );
    assert.ok(!runner.events.includes("disconnect"), "the other runner's connection stayed up");
    const status = await control.status();
    assert.equal(status.rejected["malformed"] ?? 0, rejectedBefore, "the frame was never parsed");
  });

  test("a 2 MiB control request: disconnected unread; the orchestrator's control connection still answers", async () => {
    const big = rawPeer(gw.controlAddress);
    try {
      await until("connected", () => big.handshakes() === 1);
      const before = gw.peerDisconnects().control;
      await big.dealer.send(Buffer.alloc(2 * MiB, 0x20));
      await until("the control peer disconnected", () => gw.peerDisconnects().control === before + 1);
      assert.equal(typeof (await control.status()).accepted, "number");
    } finally {
      await big.close();
    }
  });
});

describe("gateway: the frame limits are configuration", () => {
  test("messageLimits in the YAML file: sizes with units, defaults, and clear errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "hive-gw-limits-cfg-"));
    try {
      const file = join(dir, "gateway.yaml");
      writeFileSync(file, "messageLimits:\n  orderFrame: 16KiB\n  controlFrame: 2MiB\n");
      assert.deepEqual(readGatewayConfig(file).messageLimits, {
        orderFrame: 16 * 1024,
        controlFrame: 2 * MiB,
        marketDataFrame: 256 * MiB,
      });
      assert.deepEqual(compileGatewayConfig({}).messageLimits, {
        orderFrame: 64 * 1024,
        controlFrame: MiB,
        marketDataFrame: 256 * MiB,
      });
      writeFileSync(file, "messageLimits:\n  orderFrame: 1KiB\n  bogus: 1\n");
      assert.throws(
        () => readGatewayConfig(file),
        (err: unknown) =>
          err instanceof ValidationError &&
          /gateway\.yaml:2:\d+: messageLimits\.orderFrame: .*at least 4096 bytes/.test(err.message) &&
          /bogus/.test(err.message),
      );
      assert.throws(
        () => compileGatewayConfig({ messageLimits: { controlFrame: 10 } }),
        /messageLimits\.controlFrame 10/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a limit from the config on a node's own CURVE socket: 10 KiB disconnects at 8 KiB, 6 KiB is answered", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hive-gw-limits-curve-"));
    const orchestrator = zmq.curveKeyPair();
    const node = zmq.curveKeyPair();
    const gw = await startGateway({
      stateDir: join(dir, "state"),
      ordersListen: "tcp://127.0.0.1:0",
      controlListen: "tcp://127.0.0.1:0",
      keysDir: join(dir, "keys"),
      orchestratorKeys: [orchestrator.publicKey],
      config: { messageLimits: { orderFrame: 8 * 1024 } },
    });
    const control = new GatewayClient({
      address: gw.controlAddress,
      serverKey: gw.publicKey ?? "",
      keys: orchestrator,
    });
    let peer: ReturnType<typeof rawPeer> | undefined;
    try {
      const fenced = await control.fence("N", "dep-n", 1n, node.publicKey);
      assert.ok(fenced.ok && fenced.ordersPort !== null);
      peer = rawPeer(`tcp://127.0.0.1:${fenced.ordersPort}`, { serverKey: gw.publicKey ?? "", keys: node });
      const p = peer;
      await until("the node connected over CURVE", () => p.handshakes() === 1);
      await p.dealer.send(Buffer.alloc(10 * 1024, 0x20));
      await until("the node disconnected", () => gw.peerDisconnects().orders === 1);
      await until("the node reconnected", () => p.handshakes() === 2);
      await p.dealer.send(Buffer.alloc(6 * 1024, 0x20));
      const [reply] = await p.dealer.receive();
      const parsed = JSON.parse(reply?.toString() ?? "{}") as { type: string; code: string };
      assert.deepEqual([parsed.type, parsed.code], ["reject", "malformed"]);
    } finally {
      await peer?.close();
      await control.close();
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
