/**
 * Consumed order ids bounded in memory (order-ids.ts), against the gateway core on a real SQLite
 * file with the paper broker, batches run as the loop runs them (one IMMEDIATE transaction each):
 * the window of recent ids never exceeds its size, ids on disk are duplicates after a restart that
 * loaded none of them, refusals about the moment (rate, kill switch, no price, cap) leave the id
 * free while those about the order consume it, and the caps refuse with `order-id-cap`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { silentLogger } from "../core/logger.ts";
import { compileGatewayConfig, type GatewayConfigInput } from "./gateway-config.ts";
import { GatewayCore } from "./gateway-core.ts";
import { openGatewayDb } from "./gateway-db.ts";
import type { OrderPeer } from "./order-peer.ts";
import { PaperBroker } from "./paper-broker.ts";
import { queryAudit, refusalSummary } from "./audit.ts";
import { envelope, type Reply } from "./testing/order-client.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hive-gw-ids-"));
  dirs.push(d);
  return d;
}

const peer: OrderPeer = {
  source: { nodeKey: undefined, socket: { send: () => Promise.resolve() } },
  id: Buffer.from("runner"),
};

/** A gateway core on `dir` (a clock the test moves), driven one batch at a time. */
function core(
  dir: string,
  input: GatewayConfigInput = {},
  clock = { wallMs: Date.now(), monoMs: 0 },
  window?: number,
  forgetAtStartMs?: number,
) {
  const state = openGatewayDb(dir);
  const broker = new PaperBroker(state.db);
  const gw = new GatewayCore({
    db: state.db,
    broker,
    config: compileGatewayConfig({ maxOrderAgeMs: 0, ...input }),
    passThrough: false,
    log: silentLogger(),
    now: () => clock.wallMs,
    monotonicMs: () => clock.monoMs,
    wake: () => undefined,
    ...(window === undefined ? {} : { orderIdWindow: window }),
    ...(forgetAtStartMs === undefined ? {} : { forgetAtStartMs }),
  });
  const inBatch = <T>(fn: () => T): T => {
    let out: T | undefined;
    state.db
      .transaction(() => {
        gw.beginBatch();
        out = fn();
        gw.expire();
        gw.endBatch();
        broker.beforeCommit();
      })
      .immediate();
    return out as T;
  };
  inBatch(() => gw.price("ESZ6", 100));
  /** Sends one batch of orders; returns each order's first answer (ack, reject or duplicate). */
  const batch = (
    orders: { account?: string; deploymentId?: string; id: string; qty?: number; type?: "limit" }[],
  ) => {
    inBatch(() => {
      for (const o of orders) {
        const frame = envelope(o.deploymentId ?? "dep-a", 1n, {
          account: o.account ?? "A",
          clientOrderId: o.id,
          ...(o.qty === undefined ? {} : { qty: o.qty }),
          ...(o.type === undefined ? {} : { type: o.type, price: 1 }),
        });
        gw.order(peer, Buffer.from(frame));
      }
    });
    const replies = gw.outFrames.splice(0).map((f) => JSON.parse(f) as Reply);
    gw.outPeers.length = 0;
    const used = new Set<Reply>();
    return orders.map((o) => {
      // The answers come in the orders' order: each takes the first one of its id not yet taken.
      const r = replies.find(
        (x) =>
          !used.has(x) &&
          x.clientOrderId === o.id &&
          x.account === (o.account ?? "A") &&
          ["ack", "reject", "duplicate"].includes(x.type),
      );
      assert.ok(r !== undefined, `an answer for ${o.id}`);
      used.add(r);
      return r.type === "reject" ? `reject ${String(r.code)}` : r.type;
    });
  };
  const one = (id: string, fields: { account?: string; deploymentId?: string; qty?: number } = {}) =>
    batch([{ id, ...fields }])[0];
  const control = <T>(fn: () => T): T => inBatch(fn);
  control(() => gw.fence("A", "dep-a", 1n));
  return { gw, broker, db: state.db, batch, one, control, clock, close: () => state.close() };
}

test("the window of recent ids never exceeds its size after a batch; older ids are found on disk", () => {
  const dir = stateDir();
  const c = core(dir, {}, undefined, 8);
  try {
    for (let b = 0; b < 50; b++) {
      const ids = Array.from({ length: 10 }, (_, i) => ({ id: `w-${b}-${i}` }));
      assert.deepEqual(c.batch(ids), Array(10).fill("ack"));
      assert.ok(c.gw.orderIds.windowed <= 8, `window ${c.gw.orderIds.windowed} after batch ${b}`);
    }
    assert.equal(c.gw.status().orderIdsKept, 500);
    const lookups = c.gw.orderIds.figures.dbLookups;
    // The first ids left the window long ago: each is a duplicate, read from the database.
    assert.deepEqual(
      c.batch([{ id: "w-0-0" }, { id: "w-1-5" }, { id: "w-25-9" }]),
      Array(3).fill("duplicate"),
    );
    assert.equal(c.gw.orderIds.figures.dbLookups, lookups + 3);
    // The most recent are answered by the window.
    const hits = c.gw.orderIds.figures.windowHits;
    assert.equal(c.one("w-49-9"), "duplicate");
    assert.equal(c.gw.orderIds.figures.windowHits, hits + 1);
    assert.equal(c.broker.figures().duplicateSubmissions, 0);
  } finally {
    c.close();
  }
});

test("ids of the same batch are duplicates of each other, whatever the window's size", () => {
  const dir = stateDir();
  const c = core(dir, {}, undefined, 1);
  try {
    assert.deepEqual(c.batch([{ id: "s-1" }, { id: "s-2" }, { id: "s-3" }, { id: "s-1" }, { id: "s-3" }]), [
      "ack",
      "ack",
      "ack",
      "duplicate",
      "duplicate",
    ]);
  } finally {
    c.close();
  }
});

test("after a restart the ids are on disk, not in memory: a replay is a duplicate and reaches no broker", () => {
  const dir = stateDir();
  const a = core(dir);
  a.batch(Array.from({ length: 100 }, (_, i) => ({ id: `r-${i}` })));
  assert.equal(a.gw.orderIds.windowed, 100);
  a.close();
  const b = core(dir);
  try {
    assert.equal(b.gw.orderIds.windowed, 0, "start-up loads no id");
    assert.equal(b.gw.status().orderIdsKept, 100, "the counts are read, not the ids");
    assert.deepEqual(b.batch([{ id: "r-0" }, { id: "r-99" }, { id: "r-100" }]), [
      "duplicate",
      "duplicate",
      "ack",
    ]);
    assert.equal(b.gw.orderIds.figures.dbLookups, 3);
    assert.equal(b.broker.figures().duplicateSubmissions, 0);
  } finally {
    b.close();
  }
});

test("a rate-limit refusal leaves the id free: the same id passes once the limit allows", () => {
  const dir = stateDir();
  const c = core(dir, { risk: { default: { maxOrdersPerSecond: 1 } } });
  try {
    assert.equal(c.one("rate-1"), "ack");
    assert.equal(c.one("rate-2"), "reject risk-rate");
    assert.equal(c.one("rate-2"), "reject risk-rate", "refused again, not a duplicate");
    c.clock.monoMs += 1_000;
    assert.equal(c.one("rate-2"), "ack");
    assert.equal(c.gw.status().orderIdsKept, 2);
  } finally {
    c.close();
  }
});

test("kill switch and missing price leave the id free; size, notional and duplicative refusals consume it", () => {
  const dir = stateDir();
  const c = core(dir, { risk: { default: { maxOrderQty: 10, duplicativeWindowMs: 60_000 } } });
  try {
    c.control(() => c.gw.kill("A", "test"));
    assert.equal(c.one("k-1"), "reject killed");
    c.control(() => c.gw.unkill("A"));
    assert.equal(c.one("k-1"), "ack", "the id the kill switch refused is new");
    // A market order on a symbol with no price.
    const frame = envelope("dep-a", 1n, { account: "A", clientOrderId: "np-1", symbol: "NQZ6" });
    const noPrice = () => {
      c.control(() => c.gw.order(peer, Buffer.from(frame)));
      const r = c.gw.outFrames.splice(0).map((f) => JSON.parse(f) as Reply);
      c.gw.outPeers.length = 0;
      const first = r.find((x) => x.clientOrderId === "np-1");
      return first?.type === "reject" ? `reject ${String(first.code)}` : first?.type;
    };
    assert.equal(noPrice(), "reject no-price");
    c.control(() => c.gw.price("NQZ6", 50));
    assert.equal(noPrice(), "ack", "the id the missing price refused is new");
    assert.equal(c.one("big-1", { qty: 11 }), "reject risk-size");
    assert.equal(c.one("big-1", { qty: 11 }), "duplicate", "a refusal about the order consumes its id");
    assert.equal(c.one("dup-1", { qty: 2 }), "ack");
    assert.equal(c.one("dup-2", { qty: 2 }), "reject risk-duplicative");
    assert.equal(c.one("dup-2", { qty: 2 }), "duplicate");
    assert.equal(c.gw.status().orderIdsKept, 5);
  } finally {
    c.close();
  }
});

test("the account cap refuses new ids with order-id-cap, without consuming them, across a restart", () => {
  const dir = stateDir();
  const caps = { maxOrderIdsPerAccount: 3 };
  const a = core(dir, caps);
  assert.deepEqual(a.batch([{ id: "c-1" }, { id: "c-2" }, { id: "c-3" }, { id: "c-4" }]), [
    "ack",
    "ack",
    "ack",
    "reject order-id-cap",
  ]);
  assert.equal(a.one("c-1"), "duplicate", "a retained id is still a duplicate at the cap");
  assert.equal(a.gw.status().orderIdsKept, 3);
  a.close();
  const b = core(dir, caps);
  try {
    assert.equal(b.one("c-5"), "reject order-id-cap", "the count survives the restart");
  } finally {
    b.close();
  }
  const c = core(dir, { maxOrderIdsPerAccount: 4 });
  try {
    assert.equal(c.one("c-4"), "ack", "the refused id was not consumed");
    assert.equal(c.one("c-5"), "reject order-id-cap");
  } finally {
    c.close();
  }
});

test("the deployment cap counts its ids over every account it trades", () => {
  const dir = stateDir();
  const c = core(dir, { maxOrderIdsPerDeployment: 2 });
  try {
    c.control(() => c.gw.fence("B", "dep-a", 1n));
    assert.equal(c.one("d-1"), "ack");
    assert.equal(c.one("d-1", { account: "B" }), "ack");
    assert.equal(c.one("d-2", { account: "B" }), "reject order-id-cap");
    assert.deepEqual(Object.fromEntries(c.gw.orderIds.byDeployment().counts), { "dep-a": 2 });
    assert.deepEqual(Object.fromEntries(c.gw.orderIds.byAccount().counts), { A: 1, B: 1 });
  } finally {
    c.close();
  }
});

test("forgetting past the retention frees the cap: counts follow the rows, on disk too", () => {
  const dir = stateDir();
  const clock = { wallMs: Date.now(), monoMs: 0 };
  const config = { orderIdRetentionDays: 1, maxOrderIdsPerAccount: 2 };
  const a = core(dir, config, clock);
  assert.deepEqual(a.batch([{ id: "f-1" }, { id: "f-2" }, { id: "f-3" }]), [
    "ack",
    "ack",
    "reject order-id-cap",
  ]);
  clock.wallMs += DAY_MS + 60_000;
  // The batch forgets first, so both old ids are gone before f-3 is decided.
  assert.equal(a.one("f-3"), "ack");
  assert.equal(a.gw.status().orderIdsKept, 1);
  assert.deepEqual(a.db.prepare("SELECT account, deployment_id, n FROM order_id_counts").raw().all(), [
    ["A", "dep-a", 1],
  ]);
  a.close();
  clock.wallMs += DAY_MS + 60_000;
  const b = core(dir, config, clock);
  try {
    assert.equal(b.gw.status().orderIdsKept, 0, "forgotten at start-up");
    assert.equal(b.db.prepare("SELECT count(*) FROM order_id_counts").pluck().get(), 0);
    assert.equal(b.one("f-1"), "ack");
  } finally {
    b.close();
  }
});

test("a start-up backlog is forgotten 10,000 to a transaction, within its time budget, the batches doing the rest", () => {
  const dir = stateDir();
  const clock = { wallMs: Date.now(), monoMs: 0 };
  const backlog = (c: ReturnType<typeof core>) => {
    // 25,000 ids consumed two days ago (more than one start-up transaction's 10,000).
    const old = clock.wallMs - 2 * DAY_MS;
    c.db.exec(`
      WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 24999)
      INSERT INTO orders (consumed_at_ms, account, client_order_id, status, deployment_id, epoch, symbol, side, qty, type, price)
      SELECT ${old} + i, 'A', 'old-' || i, 'filled', 'dep-a', '1', 'ESZ6', 'buy', 1, 'market', NULL FROM c;
      WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 24999)
      INSERT INTO paper_orders (account, client_order_id, symbol, side, qty, type, price, status)
      SELECT 'A', 'old-' || i, 'ESZ6', 'buy', 1, 'market', NULL, 'filled' FROM c;
      INSERT INTO order_id_counts VALUES ('A', 'dep-a', 25000);
    `);
  };
  const retention = { orderIdRetentionDays: 1 };
  // A budget no machine runs out of: every expired id goes at start-up, in three transactions.
  const a = core(dir, {}, clock);
  backlog(a);
  assert.equal(a.one("new-1"), "ack");
  a.close();
  const b = core(dir, retention, clock, undefined, 600_000);
  try {
    assert.equal(b.gw.status().orderIdsForgotten, 25_000);
    assert.equal(b.gw.status().orderIdsKept, 1);
    assert.deepEqual(b.db.prepare("SELECT account, deployment_id, n FROM order_id_counts").raw().all(), [
      ["A", "dep-a", 1],
    ]);
    assert.equal(b.broker.figures().orders, 1, "the paper broker forgot them too");
    assert.equal(b.one("old-0"), "ack", "a forgotten id is new");
    assert.equal(b.one("new-1"), "duplicate");
  } finally {
    b.close();
  }

  // No budget: one transaction at start-up, and the batches forget the rest, a few at a time.
  const dir2 = stateDir();
  const c = core(dir2, {}, clock);
  backlog(c);
  c.close();
  const d = core(dir2, retention, clock, undefined, 0);
  try {
    const atStart = d.gw.status().orderIdsForgotten;
    assert.ok(atStart >= 10_000 && atStart < 25_000, `${atStart} forgotten by the start-up`);
    for (let i = 0; i < 1_000 && d.gw.status().orderIdsForgotten < 25_000; i++) d.one(`n-${i}`);
    assert.equal(d.gw.status().orderIdsForgotten, 25_000);
    assert.equal(
      d.db.prepare("SELECT count(*) FROM orders WHERE client_order_id LIKE 'old-%'").pluck().get(),
      0,
    );
  } finally {
    d.close();
  }
});

test("a replay loop on one id is audited like a refusal: a few full rows a second, the rest counted", () => {
  const dir = stateDir();
  const c = core(dir, { auditFullRefusalsPerSecond: 2 });
  try {
    assert.equal(c.one("replayed"), "ack");
    const replays = Array.from({ length: 50 }, () => ({ id: "replayed" }));
    assert.deepEqual(c.batch(replays), Array(50).fill("duplicate"));
    c.clock.wallMs += 1_000; // the second ends: its count becomes one summary row
    c.batch([{ id: "next" }]);
    const rows = queryAudit(c.db).filter((r) => r.clientOrderId === "replayed" || r.code === "duplicate");
    const full = rows.filter((r) => r.outcome === "duplicate");
    assert.equal(full.length, 2, "the first two replays of the second in full");
    const counted = rows.map((r) => refusalSummary(r)?.count ?? 0).reduce((a, b) => a + b, 0);
    assert.equal(full.length + counted, 50, "every replay counted");
  } finally {
    c.close();
  }
});
