/**
 * CURVE and ZAP on the real sockets: only the configured orchestrator key may use the control
 * socket, and only runner keys authorized through the control channel may place orders; a
 * client with any other key (or none) is refused at the handshake, so nothing it sends reaches
 * the gateway's decisions or its audit log.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import * as zmq from "zeromq";
import { HiveError } from "../core/hive-error.ts";
import { readAudit } from "./audit-archive.ts";
import { GatewayClient } from "./control-client.ts";
import { startGateway, type RunningGateway } from "./gateway-server.ts";
import type { CurveKeyPair } from "../core/z85.ts";
import { keyPairPath, loadOrCreateKeyPair } from "./keys.ts";
import { envelope, OrderClient } from "./testing/order-client.ts";

describe("CURVE and ZAP", () => {
  let dir: string;
  let gw: RunningGateway;
  const orchestrator = zmq.curveKeyPair();
  const runnerKeys = zmq.curveKeyPair();
  const strangerKeys = zmq.curveKeyPair();
  let control: GatewayClient;
  const clients: { close(): Promise<void> }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "hive-gw-curve-"));
    gw = await startGateway({
      stateDir: join(dir, "state"),
      ordersListen: "tcp://127.0.0.1:0",
      controlListen: "tcp://127.0.0.1:0",
      keysDir: join(dir, "keys"),
      orchestratorKeys: [orchestrator.publicKey],
    });
    control = new GatewayClient({
      address: gw.controlAddress,
      serverKey: gw.publicKey ?? "",
      keys: orchestrator,
    });
    clients.push(control);
    gw.setPrice("ESZ6", 10);
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the gateway's key pair is kept on disk: secret 0600, public beside it", () => {
    const file = keyPairPath(join(dir, "keys"));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(loadOrCreateKeyPair(file).publicKey, gw.publicKey);
  });

  test("a control client with an unknown key cannot fence: refused, and the fence table is unchanged", async () => {
    const stranger = new GatewayClient({
      address: gw.controlAddress,
      serverKey: gw.publicKey ?? "",
      keys: strangerKeys,
      timeoutMs: 700,
    });
    clients.push(stranger);
    await assert.rejects(stranger.fence("ACC", "evil", 99n), (err: unknown) => {
      assert.ok(err instanceof HiveError);
      assert.ok(err.code === "permission_denied" || err.code === "unavailable", err.code);
      return true;
    });
    const plain = new GatewayClient({ address: gw.controlAddress, timeoutMs: 500 });
    clients.push(plain);
    await assert.rejects(plain.fence("ACC", "evil", 98n), HiveError);
    assert.deepEqual(await control.accounts("ACC"), []);
  });

  test("an unknown runner key cannot place an order; an authorized one can; revoke refuses new connections", async () => {
    assert.equal((await control.fence("ACC", "dep-1", 1n)).ok, true);
    await control.authorize("node-1", runnerKeys.publicKey);
    const curve = (keys: CurveKeyPair) => ({ serverKey: gw.publicKey ?? "", keys });
    const stranger = new OrderClient(gw.ordersAddress, curve(strangerKeys));
    const plain = new OrderClient(gw.ordersAddress);
    clients.push(stranger, plain);
    await stranger.send(envelope("dep-1", 1n, { account: "ACC", clientOrderId: "from-stranger" }));
    await plain.send(envelope("dep-1", 1n, { account: "ACC", clientOrderId: "from-plain" }));

    const runner = new OrderClient(gw.ordersAddress, curve(runnerKeys));
    clients.push(runner);
    await runner.send(envelope("dep-1", 1n, { account: "ACC", clientOrderId: "from-runner" }));
    const ack = await runner.next((r) => r.clientOrderId === "from-runner" && r.type === "ack");
    assert.equal(ack.status, "filled");
    await sleep(300);
    const ids = readAudit(join(dir, "state")).map((r) => r.clientOrderId);
    assert.ok(ids.includes("from-runner"));
    assert.ok(!ids.includes("from-stranger"), "the stranger's order reached the gateway");
    assert.ok(!ids.includes("from-plain"), "a client without CURVE reached the gateway");
    assert.deepEqual(stranger.replies, []);
    assert.equal((await control.status()).authorizedRunners, 1);

    await control.revoke("node-1");
    const after = new OrderClient(gw.ordersAddress, curve(runnerKeys));
    clients.push(after);
    await after.send(envelope("dep-1", 1n, { account: "ACC", clientOrderId: "after-revoke" }));
    await sleep(300);
    assert.ok(!readAudit(join(dir, "state")).some((r) => r.clientOrderId === "after-revoke"));
    assert.equal((await control.status()).authorizedRunners, 0);
  });

  test("two node ids with one key: revoking one leaves the other admitted", async () => {
    const shared = zmq.curveKeyPair();
    await control.authorize("old-name", shared.publicKey);
    await control.authorize("new-name", shared.publicKey);
    await control.revoke("old-name");
    assert.deepEqual(Object.keys(await control.runners()), ["new-name"]);
    const runner = new OrderClient(gw.ordersAddress, { serverKey: gw.publicKey ?? "", keys: shared });
    clients.push(runner);
    await runner.send(envelope("dep-1", 1n, { account: "ACC", clientOrderId: "shared-key" }));
    const ack = await runner.next((r) => r.clientOrderId === "shared-key" && r.type === "ack");
    assert.equal(ack.status, "filled");
    await control.revoke("new-name");
  });
});
