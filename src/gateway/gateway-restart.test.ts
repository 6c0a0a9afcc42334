/**
 * Durability across a crash: a gateway run as a child process is SIGKILLed right after it
 * acknowledged a fence, then restarted on the same state directory. It must still refuse the old
 * deployment, still know every client order id (a replay is `duplicate`, and the broker never
 * sees an id twice), and its books must still match the paper broker's. The control client used
 * before the crash keeps working after it (it reconnects on its own).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { HiveError } from "../core/hive-error.ts";
import { GatewayClient } from "./control-client.ts";
import { DB_FILE } from "./gateway-db.ts";
import { envelope, freePort, OrderClient, type Reply } from "./testing/order-client.ts";
import {
  killAllGatewayProcesses,
  startGatewayProcess,
  stopGatewayProcess,
} from "./testing/gateway-process.ts";

const dirs: string[] = [];

after(() => {
  killAllGatewayProcesses();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const startChild = startGatewayProcess;
const sigkill = (child: ChildProcess) => stopGatewayProcess(child, "SIGKILL");

test("SIGKILL right after a fence ack: after restart the old deployment is refused and every id is still known", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-gw-restart-"));
  dirs.push(dir);
  const args = {
    stateDir: dir,
    ordersListen: `tcp://127.0.0.1:${await freePort()}`,
    controlListen: `tcp://127.0.0.1:${await freePort()}`,
    insecure: true,
    prices: { ESZ6: 100 },
  };
  let child = await startChild(args);
  const control = new GatewayClient({ address: args.controlListen, timeoutMs: 1_500 });
  const runner = new OrderClient(args.ordersListen);
  try {
    assert.equal((await control.fence("A", "dep-1", 1n)).ok, true);
    const ids = Array.from({ length: 20 }, (_, i) => `o-${i}`);
    for (const [i, id] of ids.entries()) {
      const resting = i % 4 === 0;
      await runner.send(
        envelope("dep-1", 1n, {
          account: "A",
          clientOrderId: id,
          side: i % 3 === 0 ? "sell" : "buy",
          qty: i + 1,
          ...(resting ? { type: "limit", price: 90 } : {}),
        }),
      );
    }
    for (const id of ids) await runner.next((r) => r.clientOrderId === id && r.type === "ack");

    const fenced = await control.fence("A", "dep-2", 2n);
    assert.deepEqual(fenced.ok && [fenced.unchanged, fenced.previous?.deploymentId], [false, "dep-1"]);
    await sigkill(child);

    // While it is down, a call times out (unavailable) instead of hanging.
    await assert.rejects(
      control.status(),
      (err: unknown) => err instanceof HiveError && err.code === "unavailable",
    );

    child = await startChild(args);
    const status = await control.status();
    assert.equal(status.admittedNodes, 0);
    const view = (await control.accounts("A"))[0];
    assert.equal(view?.fence?.deploymentId, "dep-2");
    assert.equal(view?.fence?.epoch, "2");
    assert.deepEqual(view?.openOrders, [], "the fence cancelled dep-1's resting orders before the crash");

    const replies = async (dep: string, epoch: bigint, id: string): Promise<Reply> => {
      const from = runner.replies.length;
      await runner.send(envelope(dep, epoch, { account: "A", clientOrderId: id }));
      return runner.next((r) => r.clientOrderId === id, 5_000, from);
    };
    assert.equal((await replies("dep-1", 1n, "o-new")).code, "fenced");
    for (const id of ids) {
      const r = await replies("dep-2", 2n, id);
      assert.equal(r.type, "duplicate", id);
    }
    assert.equal((await replies("dep-2", 2n, "o-fresh")).type, "ack");
    assert.equal((await control.fence("A", "dep-1", 1n)).ok, false, "a lower epoch is still refused");
  } finally {
    await runner.close();
    await control.close();
    await stopGatewayProcess(child);
  }
  const db = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    const duplicates = db
      .prepare("SELECT value FROM paper_meta WHERE key = 'duplicateSubmissions'")
      .pluck()
      .get();
    assert.equal(duplicates ?? 0, 0, "the broker was never sent an id twice");
    const perId = db
      .prepare("SELECT count(*) FROM paper_orders GROUP BY account, client_order_id HAVING count(*) > 1")
      .all();
    assert.deepEqual(perId, []);
    const books = db
      .prepare(
        "SELECT g.symbol, g.qty AS gateway, p.qty AS broker FROM positions g JOIN paper_positions p USING (account, symbol)",
      )
      .all() as { gateway: number; broker: number }[];
    assert.ok(books.length > 0);
    for (const b of books) assert.equal(b.gateway, b.broker);
  } finally {
    db.close();
  }
});
