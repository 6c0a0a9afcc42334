import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type Database from "better-sqlite3";
import type { BrokerEvent } from "./broker-adapter.ts";
import { openGatewayDb } from "./gateway-db.ts";
import { PaperBroker } from "./paper-broker.ts";

/** A paper broker on a real database in a temp dir; `reopen` simulates a restart. */
function withBroker(
  fn: (ctx: {
    broker: PaperBroker;
    events: BrokerEvent[];
    reopen: () => PaperBroker;
    db: () => Database.Database;
  }) => void,
) {
  const dir = mkdtempSync(join(tmpdir(), "hive-paper-"));
  let state = openGatewayDb(dir);
  const events: BrokerEvent[] = [];
  const make = () => {
    const b = new PaperBroker(state.db, { now: () => 1 });
    b.onEvent((e) => events.push(e));
    return b;
  };
  const reopen = () => {
    state.close();
    state = openGatewayDb(dir);
    return make();
  };
  try {
    fn({ broker: make(), events, reopen, db: () => state.db });
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const base = { account: "A", symbol: "ES", qty: 2 } as const;

test("market orders fill at the last price; with none they are rejected no-price", () => {
  withBroker(({ broker, events }) => {
    broker.submit({ ...base, clientOrderId: "1", side: "buy", type: "market" });
    assert.deepEqual(
      events.map((e) => [e.type, "code" in e ? e.code : undefined]),
      [["rejected", "no-price"]],
    );
    broker.setPrice("ES", 50);
    broker.submit({ ...base, clientOrderId: "2", side: "buy", type: "market" });
    assert.deepEqual(
      events.slice(1).map((e) => e.type),
      ["accepted", "fill"],
    );
    assert.equal(events[2]?.type === "fill" && events[2].price, 50);
    assert.deepEqual(broker.positions(), { A: { ES: 2 } });
  });
});

test("limit orders fill at their price when marketable, else rest and fill when a later price crosses", () => {
  withBroker(({ broker, events }) => {
    broker.setPrice("ES", 50);
    broker.submit({ ...base, clientOrderId: "b", side: "buy", type: "limit", price: 51 });
    broker.submit({ ...base, clientOrderId: "s", side: "sell", type: "limit", price: 55 });
    assert.deepEqual(
      events.filter((e) => e.type === "accepted").map((e) => e.type === "accepted" && e.status),
      ["filled", "resting"],
    );
    assert.equal(broker.openOrders().length, 1);
    broker.setPrice("ES", 54.9);
    assert.equal(broker.openOrders().length, 1);
    broker.setPrice("ES", 56);
    const fill = events.filter((e) => e.type === "fill").at(-1);
    assert.deepEqual(fill?.type === "fill" && [fill.clientOrderId, fill.price, fill.side], ["s", 55, "sell"]);
    assert.deepEqual(broker.positions(), { A: { ES: 0 } });
    assert.equal(broker.openOrders().length, 0);
  });
});

test("a reused client order id is refused and counted, also after a restart; state survives the restart", () => {
  withBroker(({ broker, events, reopen }) => {
    broker.setPrice("ES", 10);
    broker.submit({ ...base, clientOrderId: "x", side: "buy", type: "market" });
    broker.submit({ ...base, clientOrderId: "r", side: "buy", type: "limit", price: 5 });
    broker.submit({ ...base, clientOrderId: "x", side: "buy", type: "market" });
    assert.equal(broker.figures().duplicateSubmissions, 1);
    assert.equal(events.at(-1)?.type, "rejected");
    const again = reopen();
    assert.equal(again.figures().duplicateSubmissions, 1);
    assert.deepEqual(again.positions(), { A: { ES: 2 } });
    assert.deepEqual(
      again.openOrders().map((o) => o.clientOrderId),
      ["r"],
    );
    again.submit({ ...base, clientOrderId: "x", side: "buy", type: "market" });
    assert.equal(again.figures().duplicateSubmissions, 2);
    again.setPrice("ES", 4);
    assert.deepEqual(again.positions(), { A: { ES: 4 } });
    assert.equal(again.orderState("A", "r")?.status, "filled");
    assert.equal(again.orderState("A", "nope"), undefined);
  });
});

test("forget drops final orders and their ids, keeps resting ones; fill ids never repeat after a restart", () => {
  withBroker(({ broker, events, reopen }) => {
    broker.setPrice("ES", 10);
    broker.submit({ ...base, clientOrderId: "f", side: "buy", type: "market" });
    broker.submit({ ...base, clientOrderId: "r", side: "buy", type: "limit", price: 5 });
    broker.beforeCommit();
    const fillIds = () => events.flatMap((e) => (e.type === "fill" ? [e.fillId] : []));
    assert.deepEqual(fillIds(), ["pf-1"]);
    broker.forget([
      { account: "A", clientOrderId: "f" },
      { account: "A", clientOrderId: "r" },
    ]);
    assert.equal(broker.orderState("A", "f"), undefined, "the filled order is gone");
    assert.equal(broker.orderState("A", "r")?.status, "resting", "the resting one stays");
    assert.equal(broker.figures().orders, 1);

    // After a restart the fill sequence goes on from where it was, though the filled row is gone.
    const again = reopen();
    again.setPrice("ES", 10);
    again.submit({ ...base, clientOrderId: "f", side: "buy", type: "market" });
    assert.deepEqual(fillIds(), ["pf-1", "pf-2"], "a forgotten id is new; its fill id is fresh");
    assert.equal(again.figures().duplicateSubmissions, 0);
    again.submit({ ...base, clientOrderId: "r", side: "buy", type: "market" });
    assert.equal(again.figures().duplicateSubmissions, 1, "the resting order's id is still known");
  });
});

test("ids seen are looked up in the table, not held in memory: a row it never loaded is a duplicate", () => {
  withBroker(({ broker, events, db }) => {
    // Written behind the broker's back (as millions of rows would be there after a restart): a
    // broker that kept its ids in memory would not know it.
    db()
      .prepare(
        "INSERT INTO paper_orders (account, client_order_id, symbol, side, qty, type, price, status) VALUES ('A', 'on-disk', 'ES', 'buy', 2, 'market', NULL, 'filled')",
      )
      .run();
    broker.setPrice("ES", 10);
    broker.submit({ ...base, clientOrderId: "on-disk", side: "buy", type: "market" });
    assert.equal(broker.figures().duplicateSubmissions, 1);
    assert.deepEqual(
      events.map((e) => e.type),
      ["rejected"],
    );
  });
});
