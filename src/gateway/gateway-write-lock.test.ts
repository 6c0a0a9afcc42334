/**
 * The gateway's database has a second writer of sorts: the WAL checkpointer's RESTART takes the
 * write lock for a moment when the WAL passes its limit (wal-checkpointer.ts). A batch must wait
 * for it, not fail: a deferred transaction that reads first (an `audit` op) and writes after (a
 * fence) cannot upgrade while another connection holds the lock, and a failed batch stops the
 * gateway. Here another connection holds the lock as a RESTART would, for 300 ms.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { GatewayClient } from "./control-client.ts";
import { DB_FILE } from "./gateway-db.ts";
import { startGateway } from "./gateway-server.ts";

/** A thread that takes the write lock of the database at `path` and holds it for `ms`. */
function holdWriteLock(path: string, ms: number): Worker {
  return new Worker(
    `const { parentPort, workerData } = require("node:worker_threads");
     const Database = require("better-sqlite3");
     const db = new Database(workerData.path);
     db.exec("BEGIN IMMEDIATE");
     parentPort.postMessage("held");
     const until = Date.now() + workerData.ms;
     while (Date.now() < until) {}
     db.exec("COMMIT");
     db.close();`,
    { eval: true, workerData: { path, ms } },
  );
}

test("batches that read before they write wait for another holder of the write lock instead of stopping the gateway", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-gw-lock-"));
  const gw = await startGateway({
    stateDir: dir,
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    insecure: true,
  });
  let failed: unknown;
  gw.failure.catch((err: unknown) => {
    failed = err;
  });
  const control = new GatewayClient({ address: gw.controlAddress, timeoutMs: 5_000 });
  try {
    assert.ok((await control.fence("A", "dep-1", 1n)).ok);
    const holder = holdWriteLock(join(dir, DB_FILE), 300);
    const released = once(holder, "exit");
    await once(holder, "message");
    // Pairs sent back to back land in one batch: the audit's read first, then the fence's write.
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++)
      calls.push(control.audit({ limit: 1 }), control.fence("A", "dep-1", BigInt(i + 2)));
    const answers = await Promise.all(calls);
    await released;
    assert.equal(failed, undefined, `the gateway stopped: ${String(failed)}`);
    const fences = answers.filter(
      (a): a is { ok: boolean } => typeof a === "object" && a !== null && "ok" in a,
    );
    assert.deepEqual(
      fences.map((f) => f.ok),
      Array.from({ length: 10 }, () => true),
    );
    assert.equal((await control.accounts("A"))[0]?.fence?.epoch, "11");
  } finally {
    try {
      await control.close();
      await gw.close();
    } finally {
      rmSync(dir, { recursive: true, force: true }); // also when a stopped gateway fails its close
    }
  }
});
