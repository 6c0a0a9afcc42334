/**
 * The order path's CURVE client and account check, with real ZeroMQ on loopback: gateways that
 * run CURVE behind a ZAP handler admitting only known runner keys, and plain ones.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { generateCurveKeyPair } from "./curve-keys.ts";
import {
  accountRejectReason,
  OrderRejectReason,
  type RunnerRejectReply,
} from "../../protocol/orders/index.ts";
import { PostOffice } from "./post-office.ts";
import {
  routeFor,
  tempRunDir,
  testOrder,
  TestGateway,
  TestStrategy,
  TestZapHandler,
  waitFor,
} from "./testing/post-office-kit.ts";

const ordersSocket = [{ name: "orders", pattern: "dealer", direction: "consume" }] as const;

describe("post office: CURVE to the gateway, and accounts", () => {
  const runDir = tempRunDir();
  const zap = new TestZapHandler();
  const runnerKeys = generateCurveKeyPair();
  const strangerKeys = generateCurveKeyPair();
  const gatewayKeys = generateCurveKeyPair();
  const gateway2Keys = generateCurveKeyPair();
  const curveGateway = new TestGateway(gatewayKeys);
  const curveGateway2 = new TestGateway(gateway2Keys);
  const plainGateway = new TestGateway();
  const po = new PostOffice({ runDir: runDir.path, curveKeyPair: runnerKeys });
  const stranger = new PostOffice({ runDir: runDir.path, curveKeyPair: strangerKeys });
  const strategies: TestStrategy[] = [];

  const route = (po: PostOffice, id: string, remotes: string[], curveServerKey?: string) =>
    po.applyRoutes({
      upserts: [{ ...routeFor(runDir.path, id, "orders", "dealer", remotes), curveServerKey }],
      removals: [],
    });
  const figures = (of: PostOffice, id: string) => {
    const c = of.counters().find((r) => r.deploymentId === id);
    assert.ok(c?.orders !== undefined, `no order path for ${id}`);
    return { ...c, orders: c.orders };
  };
  const strategyFor = async (of: PostOffice, id: string, accounts: string[] = []) => {
    const endpoints = await of.addDeployment(id, ordersSocket, { epoch: 4n, ordersOpen: true, accounts });
    const s = new TestStrategy(endpoints["orders"] ?? "");
    strategies.push(s);
    return s;
  };
  /** Sends until an order reaches `gateway` (a fresh connection may reject a first one as unreachable). */
  const sendUntilReceived = async (s: TestStrategy, gateway: TestGateway, id: string) => {
    const before = gateway.received.length;
    for (let attempt = 0; attempt < 50 && gateway.received.length === before; attempt++) {
      const replies = s.replies.length;
      await s.order(testOrder(`${id}-${attempt}`));
      await waitFor(
        () => gateway.received.length > before || s.replies.length > replies,
        "the order at the gateway or a reject",
      );
      if (gateway.received.length === before) await sleep(20);
    }
    assert.ok(gateway.received.length > before, `no order of ${id} reached the gateway`);
  };

  before(async () => {
    await zap.bind();
    zap.allowed.add(runnerKeys.publicKey);
    await curveGateway.bind(true);
    await curveGateway2.bind(true);
    await plainGateway.bind(true);
  });

  after(async () => {
    for (const s of strategies) await s.close();
    await po.close();
    await stranger.close();
    await curveGateway.close();
    await curveGateway2.close();
    await plainGateway.close();
    await zap.close();
    runDir.remove();
  });

  test("an order path routed with the gateway's server key reaches it over CURVE with the runner's key", async () => {
    assert.equal(po.curvePublicKey, runnerKeys.publicKey);
    const s = await strategyFor(po, "dep-curve");
    await route(po, "dep-curve", [curveGateway.address], gatewayKeys.publicKey);
    await waitFor(() => figures(po, "dep-curve").connectedRemotes === 1, "the CURVE connection");
    await sendUntilReceived(s, curveGateway, "curve");
    assert.equal(curveGateway.received.at(-1)?.envelope.deploymentId, "dep-curve");
    await waitFor(() => s.replies.some((r) => r["type"] === "ack"), "the gateway's ack back");
    assert.ok(zap.asked.some((a) => a.key === runnerKeys.publicKey && a.admitted));
    assert.equal(figures(po, "dep-curve").orders.curveServerKey, gatewayKeys.publicKey);
  });

  test("a runner key the gateway does not admit is refused: nothing reaches it", async () => {
    const s = await strategyFor(stranger, "dep-stranger");
    await route(stranger, "dep-stranger", [curveGateway.address], gatewayKeys.publicKey);
    await waitFor(
      () => figures(stranger, "dep-stranger").orders.handshakeFailures > 0,
      "the refused handshake",
    );
    assert.ok(zap.asked.some((a) => a.key === strangerKeys.publicKey && !a.admitted));
    const atGateway = curveGateway.received.length;
    await s.order(testOrder("stranger-1"));
    await waitFor(() => s.replies.length === 1, "the reject");
    assert.equal(s.replies[0]?.["reason"], OrderRejectReason.unreachable);
    assert.equal(figures(stranger, "dep-stranger").connectedRemotes, 0);
    await sleep(100);
    assert.equal(curveGateway.received.length, atGateway, "the stranger's order never reached the gateway");
  });

  test("a change of server key connects anew with the new key; the strategy's socket is untouched", async () => {
    const s = strategies[0] ?? assert.fail("no strategy");
    await route(po, "dep-curve", [curveGateway2.address], gateway2Keys.publicKey);
    await waitFor(() => figures(po, "dep-curve").connectedRemotes === 1, "the connection to the new gateway");
    await sendUntilReceived(s, curveGateway2, "moved");
    // The same gateway address with the other gateway's key: the client refuses a server that
    // cannot prove that key, so nothing connects.
    await route(po, "dep-curve", [curveGateway.address], gateway2Keys.publicKey);
    await sleep(200);
    assert.equal(figures(po, "dep-curve").connectedRemotes, 0);
    // And back to plain TCP.
    await route(po, "dep-curve", [plainGateway.address]);
    await waitFor(() => figures(po, "dep-curve").connectedRemotes === 1, "the plain connection");
    await sendUntilReceived(s, plainGateway, "plain");
    assert.equal(figures(po, "dep-curve").orders.curveServerKey, undefined);
    assert.deepEqual(
      s.events.filter((e) => e === "disconnect" || e === "close" || e === "connect:retry"),
      [],
      `the strategy's socket stayed connected; its events were ${s.events.join(", ")}`,
    );
  });

  test("orders for an account the deployment may not trade are rejected on the node and counted", async () => {
    const s = await strategyFor(po, "dep-acc", ["ACC-1", "ACC-2"]);
    await route(po, "dep-acc", [plainGateway.address]);
    await waitFor(() => figures(po, "dep-acc").connectedRemotes === 1, "the connection");
    const atGateway = plainGateway.received.length;
    await s.order(testOrder("foreign-1", { account: "ACC-9" }));
    await waitFor(() => s.replies.length === 1, "the reject");
    const reject = s.replies[0] as unknown as RunnerRejectReply;
    assert.equal(reject.type, "reject");
    assert.equal(reject.clientOrderId, "foreign-1");
    assert.equal(reject.reason, accountRejectReason("ACC-9", ["ACC-1", "ACC-2"]));
    assert.match(
      reject.reason,
      /account "ACC-9" is not one this deployment may trade; allowed: ACC-1, ACC-2/,
    );
    assert.equal(figures(po, "dep-acc").orders.droppedAccount, 1);
    assert.equal(figures(po, "dep-acc").drops, 1);
    await sendUntilReceived(s, plainGateway, "own-account");
    assert.equal(plainGateway.received.length, atGateway + 1, "only the allowed account's order left");
    assert.equal(plainGateway.received.at(-1)?.envelope.account, "ACC-1");
  });

  test("a route's server key must be a Z85 key, and only on an order path", async () => {
    await assert.rejects(route(po, "dep-acc", [plainGateway.address], "short"), /expected a Z85 key of 40/);
    await po.addDeployment("dep-md", [{ name: "md", pattern: "sub", direction: "consume" }], {
      epoch: 1n,
      ordersOpen: false,
    });
    await assert.rejects(
      po.applyRoutes({
        upserts: [
          { ...routeFor(runDir.path, "dep-md", "md", "sub", []), curveServerKey: gatewayKeys.publicKey },
        ],
        removals: [],
      }),
      /only order paths connect with CURVE/,
    );
  });
});
