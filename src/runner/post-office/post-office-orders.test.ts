import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  accountRejectReason,
  OrderRejectReason,
  RunnerRejectCode,
  type RunnerRejectReply,
} from "../../protocol/orders/index.ts";
import { MAX_ORDERS_PER_SEND } from "./order-path.ts";
import { PostOffice } from "./post-office.ts";
import {
  routeFor,
  tempRunDir,
  testOrder,
  TestGateway,
  TestStrategy,
  waitFor,
} from "./testing/post-office-kit.ts";

const order = testOrder;

describe("post office: the order path", () => {
  const runDir = tempRunDir();
  const gateway = new TestGateway();
  const gateway2 = new TestGateway();
  const po = new PostOffice({ runDir: runDir.path, now: () => 1_700_000_000_123 });
  let strategy: TestStrategy;
  const ordersRoute = (remotes: string[]) => ({
    upserts: [routeFor(runDir.path, "dep-live", "orders", "dealer", remotes)],
    removals: [],
  });
  const counters = () => {
    const c = po.counters().find((r) => r.socket === "orders");
    assert.ok(c?.orders !== undefined);
    return { ...c, orders: c.orders };
  };

  before(async () => {
    await gateway.bind(true);
    await gateway2.bind(true);
    const endpoints = await po.addDeployment(
      "dep-live",
      [{ name: "orders", pattern: "dealer", direction: "consume" }],
      { epoch: 7n, ordersOpen: true },
    );
    strategy = new TestStrategy(endpoints["orders"] ?? "");
    await po.applyRoutes(ordersRoute([gateway.address]));
    await waitFor(() => counters().connectedRemotes === 1, "the runner's connection to the gateway");
  });

  after(async () => {
    await strategy.close();
    await po.close();
    await gateway.close();
    await gateway2.close();
    runDir.remove();
  });

  test("stamps deploymentId and epoch, ignoring forged ones, and brings the gateway's reply back", async () => {
    await strategy.order(order("c-1", { deploymentId: "forged", epoch: "999", sentAtUnixMs: 1, order: {} }));
    await waitFor(() => gateway.received.length === 1, "the order at the gateway");
    const { envelope, bytes } = gateway.received[0] ?? assert.fail("no order");
    assert.deepEqual(envelope, {
      deploymentId: "dep-live",
      epoch: "7",
      account: "ACC-1",
      clientOrderId: "c-1",
      sentAtUnixMs: 1_700_000_000_123,
      order: {
        account: "ACC-1",
        clientOrderId: "c-1",
        symbol: "ES",
        side: "buy",
        qty: 2,
        type: "limit",
        price: 5000.25,
      },
    });
    await waitFor(() => strategy.replies.length === 1, "the gateway's ack at the strategy");
    assert.deepEqual(strategy.replies[0], { type: "ack", clientOrderId: "c-1" });
    const c = counters();
    assert.equal(c.messages, 1);
    assert.equal(c.bytes, bytes, "bytes are exactly the envelope bytes the gateway received");
    assert.equal(c.drops, 0);
    assert.equal(c.orders.replies, 1);
  });

  test("rejects a malformed order with a reason and counts it", async () => {
    const before = strategy.replies.length;
    await strategy.dealer.send("not json");
    await strategy.order({ ...order("c-bad"), qty: -1 });
    await waitFor(() => strategy.replies.length === before + 2, "two rejects");
    const [first, second] = strategy.replies.slice(before) as unknown as RunnerRejectReply[];
    assert.equal(first?.type, "reject");
    assert.match(first?.reason ?? "", /not UTF-8 JSON/);
    assert.equal(second?.clientOrderId, "c-bad");
    assert.match(second?.reason ?? "", /^qty: found -1, expected a quantity above zero/);
    assert.equal(counters().orders.droppedMalformed, 2);
    assert.equal(counters().drops, 2);
    assert.equal(gateway.received.length, 1, "nothing malformed reaches the gateway");
  });

  test("a closed order path drops orders, counts them and answers a reject; reopening takes the new epoch", async () => {
    const atGateway = gateway.received.length;
    const dropsBefore = counters().drops ?? 0;
    const repliesBefore = strategy.replies.length;
    po.setOrderPath("dep-live", false);
    for (let i = 0; i < 3; i++) await strategy.order(order(`closed-${i}`));
    await waitFor(() => strategy.replies.length === repliesBefore + 3, "three rejects");
    for (const reply of strategy.replies.slice(repliesBefore)) {
      assert.equal(reply["type"], "reject");
      assert.equal(reply["reason"], OrderRejectReason.closed);
    }
    await sleep(200);
    assert.equal(gateway.received.length, atGateway, "no order reached the gateway while closed");
    assert.equal(counters().drops, dropsBefore + 3);
    assert.equal(counters().orders.droppedClosed, 3);

    po.setOrderPath("dep-live", true, 8n);
    await strategy.order(order("reopened"));
    await waitFor(() => gateway.received.length === atGateway + 1, "the order after reopening");
    assert.equal(gateway.received.at(-1)?.envelope.epoch, "8");

    // Fencing moves forward only: a lower epoch is ignored, the path still opens or closes.
    po.setOrderPath("dep-live", true, 5n);
    await strategy.order(order("stale-epoch"));
    await waitFor(() => gateway.received.length === atGateway + 2, "the next order");
    assert.equal(gateway.received.at(-1)?.envelope.epoch, "8");
    assert.equal(counters().orders.epoch, 8n);
  });

  test("orders the strategy queued go to the gateway together, in order, and every reply comes back", async () => {
    const atGateway = gateway.received.length;
    const messagesBefore = gateway.messageSizes.length;
    const repliesBefore = strategy.replies.length;
    const n = 600;
    // Sent without yielding to the event loop: they are all queued before the runner reads one.
    for (let i = 0; i < n; i++) await strategy.order(order(`burst-${i}`));
    await waitFor(() => gateway.received.length === atGateway + n, "every order at the gateway");
    assert.deepEqual(
      gateway.received.slice(atGateway).map((r) => r.envelope.clientOrderId),
      Array.from({ length: n }, (_, i) => `burst-${i}`),
    );
    const sizes = gateway.messageSizes.slice(messagesBefore);
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      n,
    );
    assert.ok(
      sizes.length < n,
      `orders queued together share messages; got ${sizes.length} messages for ${n} orders`,
    );
    assert.ok(Math.max(...sizes) <= MAX_ORDERS_PER_SEND, `at most ${MAX_ORDERS_PER_SEND} per message`);
    // Only this burst's replies: a reply to an earlier test's order may still come in meanwhile.
    const burstReplies = () =>
      strategy.replies
        .slice(repliesBefore)
        .map((r) => r["clientOrderId"])
        .filter((id) => typeof id === "string" && id.startsWith("burst-"));
    await waitFor(() => burstReplies().length === n, "every ack at the strategy");
    assert.deepEqual(
      burstReplies(),
      Array.from({ length: n }, (_, i) => `burst-${i}`),
    );
  });

  test("a gateway move reconnects only the runner's side", async () => {
    await po.applyRoutes(ordersRoute([gateway2.address]));
    await waitFor(() => counters().connectedRemotes === 1, "the connection to the new gateway");
    const atOld = gateway.received.length;
    // Right after a move, an order may be rejected as unreachable while the new connection settles
    // (seen once under a loaded full test run); the strategy resends with the same clientOrderId.
    for (let attempt = 0; attempt < 20 && gateway2.received.length === 0; attempt++) {
      const before = strategy.replies.length;
      await strategy.order(order("moved"));
      await waitFor(
        () => gateway2.received.length === 1 || strategy.replies.length > before,
        "the order at the new gateway, or a reject to resend after",
      );
      if (gateway2.received.length === 0) await sleep(50);
    }
    await waitFor(() => gateway2.received.length === 1, "the order at the new gateway");
    assert.equal(gateway.received.length, atOld, "nothing more at the old gateway");
    await waitFor(() => strategy.replies.at(-1)?.["clientOrderId"] === "moved", "the new gateway's ack");
    assert.deepEqual(counters().remotes, [gateway2.address]);
    assert.deepEqual(
      strategy.events.filter((e) => e === "disconnect" || e === "close" || e === "connect:retry"),
      [],
      `the strategy's socket stayed connected; its events were ${strategy.events.join(", ")}`,
    );

    // No gateway routed: orders are rejected at once, not queued to arrive later.
    await po.applyRoutes({ upserts: [], removals: [{ deploymentId: "dep-live", socket: "orders" }] });
    const replies = strategy.replies.length;
    await strategy.order(order("nowhere"));
    await waitFor(() => strategy.replies.length === replies + 1, "the reject");
    assert.equal(strategy.replies.at(-1)?.["reason"], OrderRejectReason.noGateway);
    assert.equal(counters().orders.droppedNoGateway, 1);
  });

  test("every refusal of the runner carries its code beside its reason", async () => {
    const endpoints = await po.addDeployment(
      "dep-codes",
      [{ name: "orders", pattern: "dealer", direction: "consume" }],
      { epoch: 1n, ordersOpen: true, accounts: ["ACC-1"] },
    );
    const s = new TestStrategy(endpoints["orders"] ?? "");
    /** Sends `message` and returns the one reply it gets. */
    const refusal = async (message: string | string[]): Promise<unknown> => {
      const before = s.replies.length;
      await s.dealer.send(message);
      await waitFor(() => s.replies.length === before + 1, "the reject");
      return s.replies[before];
    };
    const reject = (code: RunnerRejectCode, reason: string, clientOrderId?: string): RunnerRejectReply =>
      clientOrderId === undefined
        ? { type: "reject", code, reason }
        : { type: "reject", code, reason, clientOrderId };
    try {
      const frame = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify(testOrder(id, extra));
      assert.deepEqual(
        await refusal(["one", "two"]),
        reject(RunnerRejectCode.BadOrder, OrderRejectReason.frames),
      );
      assert.deepEqual(
        await refusal("not json"),
        reject(RunnerRejectCode.BadOrder, "the order frame is not UTF-8 JSON; expected one JSON object"),
      );
      assert.deepEqual(
        await refusal(frame("k-qty", { qty: 0 })),
        reject(RunnerRejectCode.BadOrder, "qty: found 0, expected a quantity above zero", "k-qty"),
      );
      assert.deepEqual(
        await refusal(frame("k-acc", { account: "ACC-9" })),
        reject(RunnerRejectCode.AccountNotAllowed, accountRejectReason("ACC-9", ["ACC-1"]), "k-acc"),
      );
      assert.deepEqual(
        await refusal(frame("k-none")),
        reject(RunnerRejectCode.NoGateway, OrderRejectReason.noGateway, "k-none"),
      );
      // Routed to an address nothing listens on: no connection, so the order cannot leave.
      await po.applyRoutes({
        upserts: [routeFor(runDir.path, "dep-codes", "orders", "dealer", ["tcp://127.0.0.1:1"])],
        removals: [],
      });
      assert.deepEqual(
        await refusal(frame("k-down")),
        reject(RunnerRejectCode.GatewayDisconnected, OrderRejectReason.unreachable, "k-down"),
      );
      po.setOrderPath("dep-codes", false);
      assert.deepEqual(
        await refusal(frame("k-closed")),
        reject(RunnerRejectCode.PathClosed, OrderRejectReason.closed, "k-closed"),
      );
    } finally {
      await s.close();
    }
  });
});
