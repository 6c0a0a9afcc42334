/**
 * Refusals aggregated in the audit log (refusal-audit.ts), over the real socket: a flood of
 * orders for an account no fence names is refused in full, and the audit keeps at most
 * `auditFullRefusalsPerSecond` full rows per (deployment, account, code) and second, plus summary
 * rows whose counts make up the rest exactly — while the gateway runs, after a clean close, and
 * after a SIGKILL (the open second's counts are in the database before any refusal is answered).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { formatAuditLine, refusalsIn, refusalSummary, type AuditRecord } from "./audit.ts";
import { readAudit } from "./audit-archive.ts";
import { startGateway } from "./gateway-server.ts";
import type { AuditWrite } from "./gateway-statements.ts";
import { MAX_FULL_ROWS_PER_SECOND, MAX_KEYS_PER_SECOND, RefusalAudit } from "./refusal-audit.ts";
import Database from "better-sqlite3";
import {
  killAllGatewayProcesses,
  startGatewayProcessReady,
  stopGatewayProcess,
} from "./testing/gateway-process.ts";
import { envelope, OrderClient } from "./testing/order-client.ts";

const dirs: string[] = [];
after(() => {
  killAllGatewayProcesses();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hive-refusal-audit-"));
  dirs.push(d);
  return d;
}

const FULL_PER_SECOND = 3;

/** Sends `n` orders for `account` (fenced by nobody), 100 to a message, and waits for every reply. */
async function flood(client: OrderClient, account: string, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    const frames: string[] = [];
    for (let j = i; j < Math.min(n, i + 100); j++)
      frames.push(envelope("strategy-a", 1n, { account, clientOrderId: `${prefix}-${j}` }));
    // A malformed frame naming the account too: another code, another key.
    frames.push(JSON.stringify({ account, clientOrderId: `${prefix}-bad-${i}`, order: "none" }));
    await client.sendMany(frames);
  }
  const expected = n + Math.ceil(n / 100);
  const deadline = performance.now() + 30_000;
  while (client.replies.length < expected && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(client.replies.length, expected, "every order got its reply");
  assert.ok(client.replies.every((r) => r.type === "reject"));
}

/** Checks the bound and the counts; returns the number of summary rows. */
function checkAudit(
  records: readonly AuditRecord[],
  account: string,
  counts: Record<string, number>,
): number {
  const mine = records.filter((r) => r.account === account && r.kind === "order");
  const byCode: Record<string, number> = {};
  const full = new Map<string, number>();
  const summaries = new Set<string>();
  for (const r of mine) {
    byCode[r.code ?? "?"] = (byCode[r.code ?? "?"] ?? 0) + refusalsIn(r);
    const summary = refusalSummary(r);
    if (summary === undefined) {
      assert.equal(r.outcome, "rejected");
      const key = `${r.code} ${Math.floor((r.receivedAtMs ?? 0) / 1000)}`;
      full.set(key, (full.get(key) ?? 0) + 1);
    } else {
      const key = `${r.code} ${summary.fromUnixMs}`;
      assert.ok(!summaries.has(key), `one summary row per code and second: ${key} twice`);
      summaries.add(key);
      assert.equal(r.deploymentId, r.code === "malformed" ? null : "strategy-a");
      assert.equal(summary.fullRows, FULL_PER_SECOND, "a summary comes after the full rows of its second");
      assert.match(
        formatAuditLine(r),
        new RegExp(`rejected-summary ${r.code} ${account} ×${summary.count} in `),
      );
    }
  }
  assert.deepEqual(byCode, counts, "full rows plus summary counts are every refusal, exactly");
  for (const [key, n] of full) assert.ok(n <= FULL_PER_SECOND, `${n} full rows for ${key}`);
  assert.ok(summaries.size > 0, "the flood was summarized");
  return summaries.size;
}

test("a flood of refused orders: a few full rows per second and key, summary rows counting the rest exactly", async () => {
  const dir = tempDir();
  const gw = await startGateway({
    stateDir: dir,
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    insecure: true,
    config: { auditFullRefusalsPerSecond: FULL_PER_SECOND },
  });
  const client = new OrderClient(gw.ordersAddress);
  const n = 3_000;
  try {
    await flood(client, "UNFENCED", "o", n);
    const counts = { "not-fenced": n, malformed: n / 100 };
    assert.deepEqual(gw.status().rejected, counts);
    // While it runs: the last second's summary rows come once that second is over (the loop
    // wakes for them), without any further order.
    const deadline = performance.now() + 5_000;
    let records = readAudit(dir);
    const total = () => records.reduce((s, r) => s + refusalsIn(r), 0);
    while (total() < n + n / 100 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      records = readAudit(dir);
    }
    checkAudit(records, "UNFENCED", counts);
    const rows = records.length;
    assert.ok(rows < n / 10, `${rows} audit rows for ${n} refusals`);
  } finally {
    await client.close();
    await gw.close();
  }
  // Closed: nothing counted twice, nothing left out.
  checkAudit(readAudit(dir), "UNFENCED", { "not-fenced": n, malformed: n / 100 });
});

test("the counts of the open second survive a SIGKILL and become summary rows at the next start", async () => {
  const dir = tempDir();
  const args = {
    stateDir: dir,
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    insecure: true,
    config: { auditFullRefusalsPerSecond: FULL_PER_SECOND },
  };
  const first = await startGatewayProcessReady(args);
  const client = new OrderClient(first.ready.orders);
  const n = 2_000;
  try {
    await flood(client, "UNFENCED", "k", n);
  } finally {
    await client.close();
  }
  // At once: the counts of the current second are in no summary row yet.
  await stopGatewayProcess(first.child, "SIGKILL");
  const second = await startGatewayProcessReady(args);
  await stopGatewayProcess(second.child);
  const records = readAudit(dir);
  checkAudit(records, "UNFENCED", { "not-fenced": n, malformed: n / 100 });
});

test("refusals naming a fresh account each: full rows and keys bounded per second, every refusal counted", () => {
  const db = new Database(":memory:");
  try {
    const rows: AuditWrite[] = [];
    const audit = new RefusalAudit(db, 2, (row) => rows.push(row));
    const t0 = 1_700_000_000_000;
    let full = 0;
    const n = 5_000;
    for (let i = 0; i < n; i++)
      if (audit.admit("d", `ACC-${i % 2_500}`, "not-fenced", `id-${i}`, t0 + 10)) full += 1;
    audit.persist();
    const open = db.prepare("SELECT count(*) AS n FROM audit_refusals_open").pluck().get() as number;
    assert.equal(rows.length, 0, "no summary row before the second is over");
    audit.roll(t0 + 1_000);
    assert.equal(db.prepare("SELECT count(*) FROM audit_refusals_open").pluck().get(), 0);
    assert.ok(full <= MAX_FULL_ROWS_PER_SECOND, `${full} full rows in one second`);
    const summaries = rows.map((r) => ({
      r,
      s: JSON.parse(r.detail ?? "{}") as { count: number; overflow: boolean },
    }));
    assert.equal(full + summaries.reduce((sum, x) => sum + x.s.count, 0), n);
    const overflow = summaries.filter((x) => x.s.overflow);
    assert.equal(overflow.length, 1, "one summary for every key past the limit");
    assert.equal(overflow[0]?.r.account, null);
    assert.ok(summaries.length <= MAX_KEYS_PER_SECOND + 1);
    assert.equal(open, summaries.length, "the open counts were in the database before the second ended");
  } finally {
    db.close();
  }
});
