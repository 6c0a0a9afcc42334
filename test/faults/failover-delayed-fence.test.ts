/**
 * Fault: a delayed and reordered control message. Two orchestrator clients talk to one gateway
 * process: the "old orchestrator" through a DelayProxy that holds its bytes, the new one directly.
 * The old one sends fence(account, OLD, n), held in the proxy; the new one sends fence(account,
 * NEW, n+1) and gets its durable ack; then the proxy lets the old fence through, late. It must be
 * refused (the gateway only moves to a higher epoch), and afterwards orders stamped OLD@n are
 * rejected and NEW@n+1 accepted — sent as envelopes on a DEALER with the gateway's CURVE key and
 * the runner key both fences name, to that node's orders socket, exactly as a runner's order path
 * sends them. The audit log shows it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { GatewayClient } from "../../src/gateway/index.ts";
import { keyPairPath, loadOrCreateKeyPair } from "../../src/gateway/keys.ts";
import { OrderClient, type Reply } from "../../src/gateway/testing/order-client.ts";
import { ACCOUNT, auditReport, freePort, readSnapshot, sendProbe, until } from "./failover-kit.ts";
import { assertSafe } from "./fault-assert.ts";
import { DelayProxy, processes } from "./lib/index.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const OLD = "ft.pinger-old";
const NEW = "ft.pinger-new";

test("a fence delayed and reordered behind a newer one is refused; OLD@n is rejected, NEW@n+1 accepted", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hive-ft-delay-"));
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const orchestratorKeys = loadOrCreateKeyPair(join(dir, "orchestrator.key"));
    const gatewayKey = loadOrCreateKeyPair(keyPairPath(join(dir, "gateway-keys"))).publicKey;
    const runnerKeys = loadOrCreateKeyPair(join(dir, "runner.key"));
    const controlPort = await freePort("127.0.0.1");
    const ordersPort = await freePort("127.0.0.1");
    const state = join(dir, "gateway");
    const gateway = processes.start(join(ROOT, "test/faults/programs/gateway-process.ts"), {
      args: [
        JSON.stringify({
          stateDir: state,
          ordersListen: `tcp://127.0.0.1:${ordersPort}`,
          controlListen: `tcp://127.0.0.1:${controlPort}`,
          keysDir: join(dir, "gateway-keys"),
          orchestratorKeys: [orchestratorKeys.publicKey],
        }),
      ],
      name: "gateway",
      cwd: ROOT,
      env: { HIVE_LOG_LEVEL: "warn" },
    });
    closers.push(() => gateway.stopGracefully(3_000));
    await gateway.waitForLine((l) => l.json?.["event"] === "gateway-ready", 20_000);

    const proxy = await DelayProxy.start({ target: { host: "127.0.0.1", port: controlPort } });
    closers.push(() => proxy.close());
    const client = (address: string, timeoutMs: number) => {
      const c = new GatewayClient({ address, serverKey: gatewayKey, keys: orchestratorKeys, timeoutMs });
      closers.push(() => c.close());
      return c;
    };
    const oldOrchestrator = client(`tcp://127.0.0.1:${proxy.port}`, 15_000);
    const newOrchestrator = client(`tcp://127.0.0.1:${controlPort}`, 5_000);
    await oldOrchestrator.status(); // its connection (and CURVE handshake) is up before the hold

    const n = 7n;
    proxy.hold("toServer");
    const heldAt = Date.now();
    const late = oldOrchestrator.fence(ACCOUNT, OLD, n, runnerKeys.publicKey);
    await until(
      "the old fence held in the proxy",
      () => (proxy.connections()[0]?.heldBytes.toServer ?? 0) > 0,
      5_000,
    );
    const fresh = await newOrchestrator.fence(ACCOUNT, NEW, n + 1n, runnerKeys.publicKey);
    await new Promise((r) => setTimeout(r, 200)); // the old one stays held well after the new ack
    const releasedAt = Date.now();
    proxy.release("toServer");
    const refused = await late;

    const nodePort = fresh.ok ? fresh.ordersPort : null;
    assert.ok(nodePort !== null, "the new fence admits the runner's node");
    const orders = new OrderClient(`tcp://127.0.0.1:${nodePort}`, {
      serverKey: gatewayKey,
      keys: runnerKeys,
    });
    closers.push(() => orders.close());
    const send = async (deploymentId: string, epoch: bigint, clientOrderId: string): Promise<Reply> => {
      return sendProbe(orders, deploymentId, epoch, clientOrderId, 10_000).catch((err: unknown) => {
        throw new Error(
          `${String(err)}; replies ${JSON.stringify(orders.replies)}; audit ${JSON.stringify(readSnapshot(state).audit.slice(-5))}\n${gateway.tail(10)}`,
        );
      });
    };
    const fromOld = await send(OLD, n, "late-old-1");
    const fromNew = await send(NEW, n + 1n, "late-new-1");
    const oldAgain = await send(OLD, n, "late-old-2");

    const records = readSnapshot(state).audit;
    const fences = records.filter((r) => r.kind === "fence");
    const report = auditReport("delayed-fence", records, { from: OLD, to: NEW, faultAtMs: heldAt });
    t.diagnostic(
      JSON.stringify({
        heldMs: releasedAt - heldAt,
        newFence: fresh.ok ? "fenced" : `refused ${fresh.reason}`,
        lateOldFence: refused.ok ? "fenced" : `refused: ${refused.reason}`,
        auditFences: fences.map((r) => `${r.seq} ${r.outcome} ${r.deploymentId}@${r.epoch}`),
        orders: [fromOld, fromNew, oldAgain].map(
          (r) => `${r.clientOrderId} ${r.type} ${String(r["code"] ?? r["status"])}`,
        ),
      }),
    );
    await assertSafe(t, { gatewayState: state }, report);
    assert.equal(fresh.ok, true, "the new fence is acknowledged");
    assert.equal(refused.ok, false, "the late fence for OLD is refused");
    assert.equal(refused.ok ? undefined : refused.current.deploymentId, NEW);
    const newRow = fences.find((r) => r.outcome === "fenced" && r.deploymentId === NEW);
    const oldRow = fences.find((r) => r.deploymentId === OLD);
    assert.ok(
      newRow && oldRow && oldRow.seq > newRow.seq,
      "the audit shows the old fence arriving after the new one",
    );
    assert.equal(oldRow.outcome, "refused");
    assert.ok(!fences.some((r) => r.outcome === "fenced" && r.deploymentId === OLD), "OLD was never fenced");
    assert.deepEqual([fromOld.type, fromOld["code"]], ["reject", "fenced"]);
    assert.deepEqual([oldAgain.type, oldAgain["code"]], ["reject", "fenced"]);
    assert.equal(fromNew.type, "ack");
    const orderRows = records.filter((r) => r.kind === "order");
    assert.deepEqual(
      orderRows.map((r) => [r.clientOrderId, r.outcome, r.code]),
      [
        ["late-old-1", "rejected", "fenced"],
        ["late-new-1", "accepted", null],
        ["late-old-2", "rejected", "fenced"],
      ],
    );
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await processes.killAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
