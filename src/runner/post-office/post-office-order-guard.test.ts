/**
 * One order that trips a bug in the runner's check is answered `internal`, and the order loop goes
 * on: the deployment's next order is forwarded and acknowledged. (Before, a throw ended the loop
 * for good and the deployment could not trade until it was restarted.) The bug is injected through
 * the post office's clock, which the check reads to stamp the envelope.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { RunnerRejectCode, type RunnerRejectReply } from "../../protocol/orders/index.ts";
import { PostOffice } from "./post-office.ts";
import {
  routeFor,
  tempRunDir,
  testOrder,
  TestGateway,
  TestStrategy,
  waitFor,
} from "./testing/post-office-kit.ts";

const runDir = tempRunDir();
const gateway = new TestGateway();
let failClock = false;
const po = new PostOffice({
  runDir: runDir.path,
  now: () => {
    if (failClock) {
      failClock = false;
      throw new Error("the clock broke");
    }
    return 1_700_000_000_123;
  },
});
let strategy: TestStrategy;

before(async () => {
  await gateway.bind(true);
  const endpoints = await po.addDeployment(
    "dep-guard",
    [{ name: "orders", pattern: "dealer", direction: "consume" }],
    { epoch: 3n, ordersOpen: true },
  );
  strategy = new TestStrategy(endpoints["orders"] ?? "");
  await po.applyRoutes({
    upserts: [routeFor(runDir.path, "dep-guard", "orders", "dealer", [gateway.address])],
    removals: [],
  });
  await waitFor(
    () => po.counters().find((r) => r.socket === "orders")?.connectedRemotes === 1,
    "the runner's connection to the gateway",
  );
});

after(async () => {
  await strategy.close();
  await po.close();
  await gateway.close();
  runDir.remove();
});

test("an order the runner fails checking is rejected `internal`; the next one is forwarded and acked", async () => {
  failClock = true;
  await strategy.order(testOrder("g-1"));
  await waitFor(() => strategy.replies.length === 1, "the reject of the first order");
  const reject = strategy.replies[0] as unknown as RunnerRejectReply;
  assert.equal(reject.type, "reject");
  assert.equal(reject.code, RunnerRejectCode.Internal);
  assert.match(reject.reason, /the runner failed checking this order \(the clock broke\); it was not sent/);
  assert.equal(gateway.received.length, 0, "the failed order did not leave");

  await strategy.order(testOrder("g-2"));
  await waitFor(() => gateway.received.length === 1, "the second order at the gateway");
  assert.equal(gateway.received[0]?.envelope.clientOrderId, "g-2");
  await waitFor(() => strategy.replies.length === 2, "the gateway's ack of the second order");
  assert.deepEqual(strategy.replies[1], { type: "ack", clientOrderId: "g-2" });
  const figures = po.counters().find((r) => r.socket === "orders")?.orders;
  assert.equal(figures?.droppedInternal, 1);
  assert.equal(figures?.forwarded, 1);
});
