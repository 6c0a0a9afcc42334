/**
 * CURVE, ZAP and the node binding on the real sockets: only the configured orchestrator key may
 * use the control socket; a node key is admitted (has an orders socket of its own) only while a
 * fence names it; an order is accepted only on the connection of the node its fence names, and
 * any other node's is refused `wrong-node` and audited, without costing the real node anything;
 * a key no fence names any more has its connection dropped and cannot handshake again.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import * as zmq from "zeromq";
import { HiveError } from "../core/hive-error.ts";
import { until } from "../core/testing/until.ts";
import type { CurveKeyPair } from "../core/z85.ts";
import { PostOffice } from "../runner/post-office/post-office.ts";
import { routeFor, tempRunDir, TestStrategy } from "../runner/post-office/testing/post-office-kit.ts";
import { readAudit } from "./audit-archive.ts";
import { GatewayClient } from "./control-client.ts";
import { startGateway, type RunningGateway } from "./gateway-server.ts";
import { keyPairPath, loadOrCreateKeyPair } from "./keys.ts";
import { envelope, OrderClient } from "./testing/order-client.ts";

describe("CURVE, ZAP and orders bound to a node", () => {
  let dir: string;
  let gw: RunningGateway;
  const orchestrator = zmq.curveKeyPair();
  const nodeA = zmq.curveKeyPair();
  const nodeB = zmq.curveKeyPair();
  const nodeC = zmq.curveKeyPair();
  const strangerKeys = zmq.curveKeyPair();
  let control: GatewayClient;
  const clients: { close(): Promise<void> }[] = [];
  const runDir = tempRunDir();

  const options = () => ({
    stateDir: join(dir, "state"),
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    keysDir: join(dir, "keys"),
    orchestratorKeys: [orchestrator.publicKey],
  });
  const audit = () => readAudit(join(dir, "state"));
  const at = (port: number) => `tcp://127.0.0.1:${port}`;
  const client = (address: string, keys?: CurveKeyPair) => {
    const c = new OrderClient(address, keys && { serverKey: gw.publicKey ?? "", keys });
    clients.push(c);
    return c;
  };
  /** Fences `account` to (deploymentId, epoch) on `node`; returns the port of that node's socket. */
  const fence = async (account: string, deploymentId: string, epoch: bigint, node: CurveKeyPair) => {
    const r = await control.fence(account, deploymentId, epoch, node.publicKey);
    assert.ok(r.ok, JSON.stringify(r));
    assert.ok(r.ordersPort !== null && r.ordersPort > 0);
    return r.ordersPort;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "hive-gw-curve-"));
    gw = await startGateway(options());
    control = new GatewayClient({
      address: gw.controlAddress,
      serverKey: gw.publicKey ?? "",
      keys: orchestrator,
    });
    gw.setPrice("ESZ6", 10);
  });

  after(async () => {
    for (const c of clients) await c.close();
    await control.close();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
    runDir.remove();
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

  test("a key no fence names cannot connect anywhere: not on the shared orders socket, not on a node's", async () => {
    const portA = await fence("ACC", "dep-a", 1n, nodeA);
    const strangerShared = client(gw.ordersAddress, strangerKeys);
    const nodeAShared = client(gw.ordersAddress, nodeA); // the shared socket binds no node: it admits no key
    const plain = client(gw.ordersAddress);
    const strangerOnA = client(at(portA), strangerKeys);
    const plainOnA = client(at(portA));
    for (const [c, id] of [
      [strangerShared, "stranger-shared"],
      [nodeAShared, "a-on-shared"],
      [plain, "plain-shared"],
      [strangerOnA, "stranger-on-a"],
      [plainOnA, "plain-on-a"],
    ] as const)
      await c.send(envelope("dep-a", 1n, { account: "ACC", clientOrderId: id }));
    await until(
      "the handshakes refused by ZAP",
      () =>
        strangerShared.events.includes("handshake:error:auth") &&
        strangerOnA.events.includes("handshake:error:auth"),
    );
    await sleep(300);
    const ids = audit().map((r) => r.clientOrderId);
    for (const id of ["stranger-shared", "a-on-shared", "plain-shared", "stranger-on-a", "plain-on-a"])
      assert.ok(!ids.includes(id), `${id} reached the gateway`);
    for (const c of [strangerShared, nodeAShared, plain, strangerOnA, plainOnA])
      assert.deepEqual(c.replies, []);
    assert.deepEqual(Object.keys(await control.nodes()), [nodeA.publicKey]);
    assert.equal((await control.status()).admittedNodes, 1);
  });

  test("node B's key sending for the deployment on node A, with the right epoch: wrong-node, audited; A's runner trades on", async () => {
    const portA = await fence("ACC", "dep-a", 1n, nodeA);
    // B hosts a deployment fenced here too, so B is admitted (on its own socket).
    const portB = await fence("ACC-B", "dep-b", 1n, nodeB);
    assert.notEqual(portA, portB);

    // The real runner side on node A: its post office, with A's key, routed to A's socket.
    const po = new PostOffice({ runDir: runDir.path, curveKeyPair: nodeA });
    clients.push(po);
    const endpoints = await po.addDeployment(
      "dep-a",
      [{ name: "orders", pattern: "dealer", direction: "consume" }],
      { epoch: 1n, ordersOpen: true, accounts: ["ACC"] },
    );
    await po.applyRoutes({
      upserts: [
        {
          ...routeFor(runDir.path, "dep-a", "orders", "dealer", [at(portA)]),
          curveServerKey: gw.publicKey ?? "",
        },
      ],
      removals: [],
    });
    const strategy = new TestStrategy(endpoints["orders"] ?? "");
    clients.push(strategy);
    const order = (clientOrderId: string) => ({
      account: "ACC",
      clientOrderId,
      symbol: "ESZ6",
      side: "buy",
      qty: 1,
      type: "market",
    });
    const acked = (id: string) => strategy.replies.some((r) => r.clientOrderId === id && r.type === "ack");
    // A fresh connection may reject the first order as unreachable: send until one is acked.
    for (let i = 0; i < 50 && !acked(`a-warm-${i - 1}`); i++) {
      await strategy.order(order(`a-warm-${i}`));
      await sleep(20);
    }
    assert.ok(
      strategy.replies.some((r) => r.type === "ack"),
      JSON.stringify(strategy.replies),
    );

    // B, on its own (admitted) connection, sends an envelope claiming dep-a at its epoch.
    const b = client(at(portB), nodeB);
    const before = audit().length;
    await b.sendMany([
      envelope("dep-a", 1n, { account: "ACC", clientOrderId: "b-forged-1" }),
      envelope("dep-a", 1n, { account: "ACC", clientOrderId: "shared-id" }),
    ]);
    const refused = await b.next((r) => r.clientOrderId === "b-forged-1");
    assert.deepEqual([refused.type, refused.code], ["reject", "wrong-node"]);
    const refused2 = await b.next((r) => r.clientOrderId === "shared-id");
    assert.equal(refused2.code, "wrong-node");
    // Meanwhile A's runner keeps trading, and the id B tried first is still A's to use.
    await strategy.order(order("a-after"));
    await strategy.order(order("shared-id"));
    await until("A's orders acked", () => acked("a-after") && acked("shared-id"));
    const rows = audit().slice(before);
    const forged = rows.filter((r) => r.clientOrderId === "b-forged-1");
    assert.deepEqual(
      forged.map((r) => [r.kind, r.outcome, r.code, r.deploymentId, r.epoch]),
      [["order", "rejected", "wrong-node", "dep-a", "1"]],
    );
    assert.deepEqual(
      rows
        .filter((r) => r.clientOrderId === "shared-id" && r.kind === "order")
        .map((r) => [r.outcome, r.code]),
      [
        ["rejected", "wrong-node"],
        ["accepted", null],
      ],
    );
    assert.ok((await control.status()).rejected["wrong-node"] === 2);

    // B's key on A's socket is refused at the handshake: nothing of it reaches the gateway.
    const bOnA = client(at(portA), nodeB);
    await bOnA.send(envelope("dep-a", 1n, { account: "ACC", clientOrderId: "b-on-a" }));
    await until("B refused on A's socket", () => bOnA.events.includes("handshake:error:auth"));
    await sleep(200);
    assert.ok(!audit().some((r) => r.clientOrderId === "b-on-a"));
    await po.removeDeployment("dep-a");
  });

  test("a key no fence names any more: its open connection is dropped at the fence, and it cannot handshake again", async () => {
    const portB = await fence("ACC-B", "dep-b", 1n, nodeB);
    const b = client(at(portB), nodeB);
    await b.send(envelope("dep-b", 1n, { account: "ACC-B", clientOrderId: "b-before" }));
    assert.equal((await b.next((r) => r.clientOrderId === "b-before" && r.type === "ack")).status, "filled");
    assert.ok(b.events.includes("handshake"));

    // ACC-B moves to a deployment on node C: no fence names B's key any more.
    // `nodes` asked with the fence (usually decided in the same batch, before B's socket closes
    // at the commit) does not list B.
    const [moved, listed] = await Promise.all([
      control.fence("ACC-B", "dep-c", 2n, nodeC.publicKey),
      control.nodes(),
    ]);
    assert.ok(moved.ok && moved.ordersPort !== null);
    assert.ok(!(nodeB.publicKey in listed), "a released key is not listed as admitted");
    assert.equal(moved.released, nodeB.publicKey, "the answer says B is no longer admitted");
    const portC = moved.ordersPort;
    assert.ok(!(nodeB.publicKey in (await control.nodes())));
    await until("B's connection dropped", () => b.events.includes("disconnect"));
    await b.send(envelope("dep-b", 1n, { account: "ACC-B", clientOrderId: "b-after" }));
    const fresh = client(at(portB), nodeB);
    await fresh.send(envelope("dep-b", 1n, { account: "ACC-B", clientOrderId: "b-fresh" }));
    await sleep(500);
    assert.deepEqual(b.about("b-after"), [], "no answer on a dropped connection");
    assert.ok(
      !fresh.events.includes("handshake"),
      `a handshake on a closed node socket: ${fresh.events.join(",")}`,
    );
    assert.ok(!audit().some((r) => r.clientOrderId === "b-after" || r.clientOrderId === "b-fresh"));

    // C trades on its own socket.
    const c = client(at(portC), nodeC);
    await c.send(envelope("dep-c", 2n, { account: "ACC-B", clientOrderId: "c-1" }));
    assert.equal((await c.next((r) => r.clientOrderId === "c-1" && r.type === "ack")).status, "filled");
  });

  test("a restarted gateway binds each admitted node's socket on its port again; the fences keep their keys", async () => {
    const ports = await control.nodes();
    assert.ok(Object.keys(ports).length >= 2);
    await control.close();
    await gw.close();
    gw = await startGateway(options());
    control = new GatewayClient({
      address: gw.controlAddress,
      serverKey: gw.publicKey ?? "",
      keys: orchestrator,
    });
    assert.deepEqual(await control.nodes(), ports);
    const view = (await control.accounts("ACC-B"))[0];
    assert.equal(view?.fence?.nodeKey, nodeC.publicKey);
    gw.setPrice("ESZ6", 10);
    const c = client(at(ports[nodeC.publicKey] ?? 0), nodeC);
    await c.send(envelope("dep-c", 2n, { account: "ACC-B", clientOrderId: "c-after-restart" }));
    assert.equal(
      (await c.next((r) => r.clientOrderId === "c-after-restart" && r.type === "ack", 10_000)).status,
      "filled",
    );
  });
});
