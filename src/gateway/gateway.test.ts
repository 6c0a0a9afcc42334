/**
 * The gateway against its real sockets (ZeroMQ on 127.0.0.1) and a real SQLite file: fencing,
 * default deny, idempotency, the unknown-outcome path, risk, the kill switch, fence-driven
 * cancels, the paper broker's fills and books, and the audit log. Insecure mode here; CURVE and
 * ZAP have their own test (curve.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { readAudit } from "./audit-archive.ts";
import { GatewayClient } from "./control-client.ts";
import { compileGatewayConfig } from "./gateway-config.ts";
import { MAX_ORDERS_PER_MESSAGE } from "./gateway-loop.ts";
import { startGateway, type RunningGateway } from "./gateway-server.ts";
import type { PaperBroker } from "./paper-broker.ts";
import { compareBooks, envelope, OrderClient, type Reply } from "./testing/order-client.ts";

const config = compileGatewayConfig({
  brokerTimeoutMs: 300,
  risk: {
    default: { maxOrderQty: 1_000, maxNotional: 1e9, maxOrdersPerSecond: 10_000 },
    accounts: {
      RISK: { maxOrderQty: 10, maxNotional: 999, maxOrdersPerSecond: 3, duplicativeWindowMs: 60_000 },
    },
  },
});

describe("gateway", () => {
  let dir: string;
  let gw: RunningGateway;
  let paper: PaperBroker;
  let control: GatewayClient;
  let runner: OrderClient;
  let n = 0;
  const id = (prefix: string) => `${prefix}-${++n}`;

  /** Sends an order and waits for its first reply of a type in `types`. */
  async function order(
    dep: string,
    epoch: bigint,
    fields: Parameters<typeof envelope>[2],
    types: readonly string[] = ["ack", "reject", "duplicate", "pending"],
  ): Promise<Reply> {
    const from = runner.replies.length;
    await runner.send(envelope(dep, epoch, fields));
    return runner.next(
      (r) => r.clientOrderId === fields.clientOrderId && types.includes(r.type),
      5_000,
      from,
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "hive-gw-"));
    gw = await startGateway({
      stateDir: dir,
      ordersListen: "tcp://127.0.0.1:0",
      controlListen: "tcp://127.0.0.1:0",
      insecure: true,
      config,
    });
    assert.ok(gw.paper);
    paper = gw.paper;
    control = new GatewayClient({ address: gw.controlAddress });
    runner = new OrderClient(gw.ordersAddress);
    gw.setPrice("ESZ6", 100);
    await control.fence("A", "dep-a", 1n);
  });

  after(async () => {
    await runner.close();
    await control.close();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("default deny: an account with no fence entry is rejected not-fenced, and counted", async () => {
    const r = await order("dep-x", 1n, { account: "NOBODY", clientOrderId: id("nf") });
    assert.equal(r.type, "reject");
    assert.equal(r.code, "not-fenced");
    assert.equal(r.account, "NOBODY");
    assert.ok(((await control.status()).rejected["not-fenced"] ?? 0) >= 1);
  });

  test("only the fenced deployment and epoch trade; others are rejected fenced or stale-epoch, ids not consumed", async () => {
    const before = (await control.status()).rejected;
    const cid = id("f");
    assert.equal((await order("dep-b", 1n, { account: "A", clientOrderId: cid })).code, "fenced");
    assert.equal((await order("dep-a", 0n, { account: "A", clientOrderId: cid })).code, "stale-epoch");
    assert.equal((await order("dep-a", 2n, { account: "A", clientOrderId: cid })).code, "stale-epoch");
    const ok = await order("dep-a", 1n, { account: "A", clientOrderId: cid });
    assert.deepEqual(
      { type: ok.type, status: ok.status, deploymentId: ok.deploymentId, epoch: ok.epoch },
      { type: "ack", status: "filled", deploymentId: "dep-a", epoch: "1" },
    );
    const after = (await control.status()).rejected;
    assert.equal((after.fenced ?? 0) - (before.fenced ?? 0), 1);
    assert.equal((after["stale-epoch"] ?? 0) - (before["stale-epoch"] ?? 0), 2);
  });

  test("an order that arrives long after its runner stamped it is refused stale-order; its id stays free", async () => {
    const cid = id("late");
    const stamped = JSON.parse(envelope("dep-a", 1n, { account: "A", clientOrderId: cid })) as {
      sentAtUnixMs: number;
    };
    stamped.sentAtUnixMs -= 5_000; // held up in a partition for 5 s
    const from = runner.replies.length;
    await runner.send(JSON.stringify(stamped));
    const late = await runner.next((r) => r.clientOrderId === cid, 5_000, from);
    assert.equal(late.type, "reject");
    assert.equal(late.code, "stale-order");
    assert.match(String(late.reason), /arrived \d+ ms after its runner sent it \(limit 1000 ms\)/);
    const fresh = await order("dep-a", 1n, { account: "A", clientOrderId: cid });
    assert.equal(fresh.type, "ack", "the id was not consumed by the late copy");
  });

  test("one message may carry many orders: each is decided on its own, in order; frames past the limit are malformed", async () => {
    const first = id("multi");
    const second = id("multi");
    const from = runner.replies.length;
    await runner.sendMany([
      envelope("dep-a", 1n, { account: "A", clientOrderId: first }),
      envelope("dep-b", 1n, { account: "A", clientOrderId: second }),
      envelope("dep-a", 1n, { account: "A", clientOrderId: first }),
    ]);
    await runner.next((r) => r.clientOrderId === first && r.type === "duplicate", 5_000, from);
    const seen = runner.replies
      .slice(from)
      .filter((r) => r.clientOrderId === first || r.clientOrderId === second)
      .map(
        (r) =>
          `${r.clientOrderId === first ? "first" : "second"} ${r.type} ${typeof r.code === "string" ? r.code : typeof r.status === "string" ? r.status : ""}`,
      );
    assert.deepEqual(seen, [
      "first ack filled",
      "first fill ",
      "second reject fenced",
      "first duplicate filled",
    ]);

    const over = id("over");
    const frames = Array.from({ length: MAX_ORDERS_PER_MESSAGE }, (_, i) =>
      envelope("dep-x", 1n, { account: "NOBODY", clientOrderId: `${over}-${i}` }),
    );
    frames.push(envelope("dep-a", 1n, { account: "A", clientOrderId: over }));
    const at = runner.replies.length;
    await runner.sendMany(frames);
    const last = await runner.next((r) => r.clientOrderId === over, 5_000, at);
    assert.equal(last.type, "reject");
    assert.equal(last.code, "malformed");
    assert.match(String(last.reason), new RegExp(`at most ${MAX_ORDERS_PER_MESSAGE} orders`));
    await runner.next((r) => r.clientOrderId === `${over}-${MAX_ORDERS_PER_MESSAGE - 1}`, 5_000, at);
    const notFenced = runner.replies.slice(at).filter((r) => r.code === "not-fenced").length;
    assert.equal(notFenced, MAX_ORDERS_PER_MESSAGE, "every order within the limit was decided");
    const retry = await order("dep-a", 1n, { account: "A", clientOrderId: over });
    assert.equal(retry.type, "ack", "an order refused for the message's size did not consume its id");
  });

  test("a refused fence (lower or equal epoch, another deployment) resolves ok: false with the current entry", async () => {
    const lower = await control.fence("A", "dep-z", 0n);
    assert.equal(lower.ok, false);
    assert.equal(lower.ok ? undefined : lower.current.deploymentId, "dep-a");
    const same = await control.fence("A", "dep-z", 1n);
    assert.equal(same.ok, false);
    const again = await control.fence("A", "dep-a", 1n);
    assert.deepEqual(again.ok && { unchanged: again.unchanged, cancelled: again.cancelled }, {
      unchanged: true,
      cancelled: 0,
    });
  });

  test("paper broker: a market order fills at the last price; with no price it is no-price", async () => {
    const cid = id("m");
    await order("dep-a", 1n, { account: "A", clientOrderId: cid, side: "buy", qty: 3 });
    const fill = await runner.next((r) => r.clientOrderId === cid && r.type === "fill");
    assert.deepEqual([fill.qty, fill.price, fill.symbol, fill.side], [3, 100, "ESZ6", "buy"]);
    assert.equal(runner.about(cid)[0]?.type, "ack", "the ack comes before the fill");
    const none = await order("dep-a", 1n, { account: "A", clientOrderId: id("m"), symbol: "NOPRICE" });
    assert.equal(none.code, "no-price");
  });

  test("paper broker: limit orders fill when marketable, else rest and fill on a crossing price; books match", async () => {
    const now = id("l");
    const ack = await order("dep-a", 1n, {
      account: "A",
      clientOrderId: now,
      type: "limit",
      price: 101,
      qty: 2,
    });
    assert.equal(ack.status, "filled");
    const fill = await runner.next((r) => r.clientOrderId === now && r.type === "fill");
    assert.equal(fill.price, 101);
    const rest = id("l");
    const resting = await order("dep-a", 1n, {
      account: "A",
      clientOrderId: rest,
      type: "limit",
      side: "sell",
      price: 105,
      qty: 4,
    });
    assert.equal(resting.status, "resting");
    const open = (await control.accounts("A"))[0]?.openOrders.map((o) => o.clientOrderId);
    assert.deepEqual(open, [rest]);
    gw.setPrice("ESZ6", 104);
    gw.setPrice("ESZ6", 106);
    const later = await runner.next((r) => r.clientOrderId === rest && r.type === "fill");
    assert.deepEqual([later.price, later.qty, later.side], [105, 4, "sell"]);
    gw.setPrice("ESZ6", 100);
    const view = (await control.accounts("A"))[0];
    assert.deepEqual(view?.openOrders, []);
    assert.deepEqual(compareBooks(await control.accounts(), paper.positions()), []);
  });

  test("idempotency: a replay is a duplicate with the original's status and never reaches the broker again", async () => {
    const cid = id("i");
    const first = await order("dep-a", 1n, { account: "A", clientOrderId: cid });
    assert.equal(first.type, "ack");
    const brokerOrders = paper.figures().orders;
    const replay = await order("dep-a", 1n, { account: "A", clientOrderId: cid, qty: 7 });
    assert.deepEqual([replay.type, replay.status], ["duplicate", "filled"]);
    assert.equal(paper.figures().orders, brokerOrders, "the broker saw no new order");
    // A risk-rejected id is consumed too.
    const big = id("i");
    assert.equal(
      (await order("dep-a", 1n, { account: "A", clientOrderId: big, qty: 5_000 })).code,
      "risk-size",
    );
    const again = await order("dep-a", 1n, { account: "A", clientOrderId: big, qty: 1 });
    assert.deepEqual([again.type, again.status], ["duplicate", "rejected"]);
    assert.equal(paper.figures().duplicateSubmissions, 0);
  });

  test("risk: size, notional, rate and duplicative checks each reject with their code", async () => {
    await control.fence("RISK", "dep-r", 1n);
    const o = (fields: Partial<Parameters<typeof envelope>[2]>) =>
      order("dep-r", 1n, { account: "RISK", clientOrderId: id("r"), type: "limit", price: 10, ...fields });
    assert.equal((await o({ qty: 11 })).code, "risk-size");
    assert.equal((await o({ qty: 10, price: 101 })).code, "risk-notional");
    assert.equal((await o({ qty: 10, type: "market", price: undefined })).code, "risk-notional"); // 10 × last 100
    assert.equal((await o({ qty: 1, price: 1 })).type, "ack");
    assert.equal((await o({ qty: 1, price: 1 })).code, "risk-duplicative");
    // The bucket holds 3 tokens at 3/s: one spent above; two more pass, then risk-rate.
    assert.equal((await o({ qty: 2, price: 1 })).type, "ack");
    assert.equal((await o({ qty: 3, price: 1 })).type, "ack");
    assert.equal((await o({ qty: 4, price: 1 })).code, "risk-rate");
  });

  test("kill switch: cancels resting orders at once, blocks new ones (killed); unkill lifts it", async () => {
    await control.fence("K", "dep-k", 1n);
    const rest = id("k");
    await order("dep-k", 1n, { account: "K", clientOrderId: rest, type: "limit", price: 50 });
    const { cancelled } = await control.kill("K", "runaway");
    assert.equal(cancelled, 1);
    const c = await runner.next((r) => r.clientOrderId === rest && r.type === "cancelled");
    assert.match(String(c.reason), /runaway/);
    assert.deepEqual(paper.openOrders("K"), []);
    assert.equal((await order("dep-k", 1n, { account: "K", clientOrderId: id("k") })).code, "killed");
    assert.equal((await control.accounts("K"))[0]?.killed, true);
    await control.unkill("K");
    assert.equal((await order("dep-k", 1n, { account: "K", clientOrderId: id("k") })).type, "ack");
  });

  test("a fence to a new deployment cancels the old one's resting orders and tells its peer", async () => {
    await control.fence("F", "old", 1n);
    const rest = id("c");
    await order("old", 1n, { account: "F", clientOrderId: rest, type: "limit", price: 10 });
    const result = await control.fence("F", "new", 2n);
    assert.deepEqual(result.ok && [result.cancelled, result.previous?.deploymentId], [1, "old"]);
    await runner.next((r) => r.clientOrderId === rest && r.type === "cancelled");
    assert.equal((await order("old", 1n, { account: "F", clientOrderId: id("c") })).code, "fenced");
    assert.equal((await order("new", 2n, { account: "F", clientOrderId: id("c") })).type, "ack");
  });

  test("unknown outcome: a late broker gives pending; a retry is a duplicate; the late answer is recorded; executed once", async () => {
    const cid = id("u");
    paper.delayAnswers((o) => o.clientOrderId === cid, 900);
    try {
      const pending = await order("dep-a", 1n, { account: "A", clientOrderId: cid });
      assert.equal(pending.type, "pending");
      const retry = await order("dep-a", 1n, { account: "A", clientOrderId: cid }, ["duplicate"]);
      assert.equal(retry.status, "unknown");
      const ack = await runner.next((r) => r.clientOrderId === cid && r.type === "ack");
      assert.equal(ack.status, "filled");
      await runner.next((r) => r.clientOrderId === cid && r.type === "fill");
      const later = await order("dep-a", 1n, { account: "A", clientOrderId: cid }, ["duplicate"]);
      assert.equal(later.status, "filled");
      assert.equal(paper.orderState("A", cid)?.fills.length, 1, "the broker executed it once");
      assert.equal(paper.figures().duplicateSubmissions, 0);
    } finally {
      paper.clearDelay();
    }
  });

  test("audit log: accepts and rejects with reason codes, fences and fills, in sequence, readable while running", async () => {
    const cid = id("a");
    await order("dep-a", 1n, { account: "A", clientOrderId: cid });
    await order("intruder", 1n, { account: "A", clientOrderId: id("a") });
    const rows = readAudit(dir, { account: "A" });
    const seqs = rows.map((r) => r.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
    const mine = rows.filter((r) => r.clientOrderId === cid);
    assert.deepEqual(
      mine.map((r) => [r.kind, r.outcome]),
      [
        ["order", "accepted"],
        ["fill", "filled"],
      ],
    );
    assert.equal((JSON.parse(mine[0]?.detail ?? "{}") as { deploymentId?: string }).deploymentId, "dep-a");
    assert.ok(
      (mine[0]?.receivedAtMs ?? 0) > 0 && (mine[0]?.decidedAtMs ?? 0) >= (mine[0]?.receivedAtMs ?? 0),
    );
    const intruder = rows.find((r) => r.deploymentId === "intruder");
    assert.deepEqual([intruder?.outcome, intruder?.code], ["rejected", "fenced"]);
    assert.ok(rows.some((r) => r.kind === "fence" && r.outcome === "fenced"));
    assert.ok(rows.some((r) => r.kind === "fence" && r.outcome === "refused"));
    const viaControl = await control.audit({ account: "A", afterSeq: (mine[0]?.seq ?? 1) - 1, limit: 2 });
    assert.equal(viaControl.length, 2);
    // SQLite would read a negative LIMIT as none: the whole table, on the gateway's thread.
    for (const limit of [-1, 0, 1.5])
      await assert.rejects(
        control.audit({ limit }),
        (err: unknown) =>
          err instanceof HiveError && err.code === ErrorCode.InvalidArgument && /limit/.test(err.message),
      );
  });

  test("malformed frames are rejected malformed, with the ids when they could be read", async () => {
    const from = runner.replies.length;
    await runner.send(JSON.stringify({ account: "A", clientOrderId: "bad-1", epoch: 1 }));
    const r = await runner.next((x) => x.clientOrderId === "bad-1", 5_000, from);
    assert.deepEqual([r.type, r.code, r.account], ["reject", "malformed", "A"]);
    await runner.send("not json");
    const r2 = await runner.next((x) => x.type === "reject" && x.clientOrderId === "", 5_000, from);
    assert.equal(r2.code, "malformed");
  });

  test("without CURVE a fence cannot name a node (nothing authenticates one), nor a key that is not Z85", async () => {
    const key = "o)FI+kE3ZX)E2h)+x9v[4tSd1qKC2]8VM&YVIj35";
    await assert.rejects(control.fence("NODE", "dep-n", 1n, key), /runs without CURVE/);
    await assert.rejects(control.fence("NODE", "dep-n", 1n, "short"), /40-character Z85 public key/);
    assert.deepEqual(await control.accounts("NODE"), [], "a refused fence writes nothing");
    assert.deepEqual(await control.nodes(), {});
  });
});
