import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { silentLogger } from "../core/logger.ts";
import { WrongControllerError } from "../gateway/controller-record.ts";
import { Gateways, parseGatewayFlag, type GatewaysOptions } from "./gateways.ts";
import { compileOrchestratorOptions, DEFAULT_TIMINGS } from "./orchestrator-options.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";

const KEY = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

describe("--gateway", () => {
  test("parses every field; key may be omitted for a gateway without CURVE", () => {
    assert.deepEqual(
      parseGatewayFlag(`name=paper,orders=tcp://127.0.0.1:7100,control=tcp://127.0.0.1:7101,key=${KEY}`),
      { name: "paper", orders: "tcp://127.0.0.1:7100", control: "tcp://127.0.0.1:7101", publicKey: KEY },
    );
    assert.equal(parseGatewayFlag("name=p,orders=tcp://h:1,control=tcp://h:2").publicKey, "");
  });

  for (const [spec, message] of [
    ["orders=tcp://h:1,control=tcp://h:2", /missing name=/],
    ["name=p,orders=h:1,control=tcp://h:2", /orders=h:1: expected tcp:\/\/host:port/],
    ["name=p,orders=tcp://h:1,control=tcp://h:2,key=short", /40-character Z85/],
    ["name=p,orders=tcp://h:1,control=tcp://h:2,colour=red", /unknown field colour/],
    ["name=Paper,orders=tcp://h:1,control=tcp://h:2", /lower-case/],
    ["name", /expected key=value/],
  ] as const) {
    test(`refuses ${spec}`, () => {
      assert.throws(
        () => parseGatewayFlag(spec),
        (err: unknown) =>
          err instanceof HiveError && err.code === ErrorCode.InvalidArgument && message.test(err.message),
      );
    });
  }
});

describe("the lease margin rule", () => {
  test("the defaults keep it: down after ≥ 2 × lease ≥ 4 × heartbeat", () => {
    const o = compileOrchestratorOptions();
    assert.equal(o.lease.heartbeatIntervalMs, DEFAULT_TIMINGS.heartbeatIntervalMs);
    assert.ok(o.lease.downAfterMs >= 2 * o.runnerLeaseMs);
    assert.ok(o.runnerLeaseMs >= 2 * o.lease.heartbeatIntervalMs);
  });

  test("a down-after shorter than twice the lease is refused at start-up", () => {
    assert.throws(
      () => compileOrchestratorOptions({ runnerLeaseMs: 500, downAfterMs: 900 }),
      /down-after 900 ms: expected at least twice the runner lease \(1000 ms\)/,
    );
  });

  test("a timing that is not a whole number of ms is refused (NaN passed every comparison)", () => {
    assert.throws(() => compileOrchestratorOptions({ downAfterMs: Number("2s") }), /downAfterMs: found NaN/);
    assert.throws(
      () => compileOrchestratorOptions({ heartbeatIntervalMs: 0 }),
      /heartbeatIntervalMs: found 0/,
    );
    assert.throws(() => compileOrchestratorOptions({ restartGraceMs: 1.5 }), /restartGraceMs: found 1.5/);
  });
});

describe("Gateways", () => {
  const KEY_2 = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
  /** Gateways with one gateway, "paper", whose control channel is `fake` (with CURVE unless `plain`). */
  const onPaper = (fake: FakeGateway, options: GatewaysOptions = {}, plain = false) =>
    new Gateways(
      [{ name: "paper", orders: "tcp://h:1", control: "tcp://h:2", publicKey: plain ? "" : KEY }],
      () => fake,
      silentLogger(),
      options,
    );
  /** Lets the syncs started meanwhile finish (the fake answers at once). */
  const settle = () => new Promise((r) => setTimeout(r, 20));
  /** A fake and its Gateways on a clock the test moves; `relistAt(ms)` reads the gateway again at `ms`. */
  const clocked = () => {
    let now = 0;
    const fake = new FakeGateway();
    const gateways = onPaper(fake, { relistMs: 10, now: () => now });
    const relistAt = async (ms: number) => {
      now = ms;
      gateways.sync();
      await settle();
    };
    return { fake, gateways, relistAt };
  };
  /** Gateways on a fake, with nodes n1 (KEY) and n2 (KEY_2) registered. */
  const twoNodes = (options: GatewaysOptions = {}) => {
    const fake = new FakeGateway();
    const gateways = onPaper(fake, options);
    gateways.setRunnerKey("n1", KEY);
    gateways.setRunnerKey("n2", KEY_2);
    return { fake, gateways };
  };
  /** A fence entry of ACC, as the gateway lists it. */
  const fenceEntry = (deploymentId: string, epoch: string, nodeKey: string | null) => ({
    account: "ACC",
    deploymentId,
    epoch,
    nodeKey,
    fencedAtUnixMs: 0,
  });

  test("a fence names the node's key; the port it answers becomes that node's route, and only that node's", async () => {
    let routeChanges = 0;
    const { fake, gateways } = twoNodes({ onRoutes: () => (routeChanges += 1) });
    routeChanges = 0;
    const r = await gateways.fence("paper", "ACC", "dep-1", 3n, "n1");
    assert.ok(r.ok);
    assert.equal(fake.fences.get("ACC")?.nodeKey, KEY);
    assert.equal(routeChanges, 1);
    const paper = gateways.addresses().get("paper");
    assert.deepEqual([...(paper?.nodeOrders ?? [])], [["n1", `tcp://h:${r.ordersPort}`]]);
    await gateways.close();
  });

  test("a fence that moves an account away from a node it leaves unfenced drops that node's route at once", async () => {
    const { gateways } = twoNodes();
    await gateways.fence("paper", "ACC", "dep-1", 1n, "n1");
    assert.deepEqual([...(gateways.addresses().get("paper")?.nodeOrders?.keys() ?? [])], ["n1"]);
    const moved = await gateways.fence("paper", "ACC", "dep-2", 2n, "n2");
    assert.equal(moved.ok && moved.released, KEY);
    assert.deepEqual([...(gateways.addresses().get("paper")?.nodeOrders?.keys() ?? [])], ["n2"]);
    await gateways.close();
  });

  test("a node with no key cannot be fenced at a gateway that runs CURVE; without CURVE no key is named", async () => {
    const fake = new FakeGateway();
    const gateways = onPaper(fake);
    await assert.rejects(
      gateways.fence("paper", "ACC", "dep-1", 1n, "keyless"),
      (err: unknown) =>
        err instanceof HiveError &&
        err.code === ErrorCode.FailedPrecondition &&
        /no CURVE key/.test(err.message),
    );
    assert.equal(fake.fences.size, 0);
    const plainFake = new FakeGateway();
    const plain = onPaper(plainFake, {}, true);
    plain.setRunnerKey("n1", KEY);
    assert.ok((await plain.fence("paper", "ACC", "dep-1", 1n, "n1")).ok);
    assert.equal(plainFake.fences.get("ACC")?.nodeKey, null);
    assert.equal(
      plain.addresses().get("paper")?.nodeOrders,
      undefined,
      "every node routes to the shared socket",
    );
    await gateways.close();
    await plain.close();
  });

  test("fenceStale: a lost fence, or the instance's own fence naming no node or an old key; never another's", async () => {
    const { fake, gateways, relistAt } = clocked();
    gateways.setRunnerKey("n1", KEY);
    const me = { deploymentId: "dep-1", epoch: 3n, nodeId: "n1" };
    const stale = (since = 0) => gateways.fenceStale("paper", "ACC", since, me);
    assert.equal(stale(), false, "nothing read yet: unknown");
    await relistAt(0);
    assert.equal(stale(), true, "no fence at all");
    await gateways.fence("paper", "ACC", "dep-1", 3n, "n1");
    await relistAt(20);
    assert.equal(stale(), false, "bound to its node");
    // A fence written before node binding: same instance, no node.
    fake.fences.set("ACC", fenceEntry("dep-1", "3", null));
    await relistAt(40);
    assert.equal(stale(), true, "naming no node");
    // The runner came back with a new key.
    await gateways.fence("paper", "ACC", "dep-1", 3n, "n1");
    gateways.setRunnerKey("n1", KEY_2);
    await relistAt(60);
    assert.equal(stale(), true, "naming the node's old key");
    assert.equal(stale(100), false, "read before `since`: unknown");
    // Another deployment holds it: not taken back.
    fake.fences.set("ACC", fenceEntry("dep-2", "4", KEY));
    await relistAt(80);
    assert.equal(stale(), false);
    await gateways.close();
  });

  test("the ports a gateway lists replace what was known, but not a port a fence answered while the list was out", async () => {
    const { fake, gateways, relistAt } = clocked();
    gateways.setRunnerKey("n1", KEY);
    gateways.setRunnerKey("n2", KEY_2);
    fake.nodePorts.set(KEY_2, 5555);
    await relistAt(0);
    assert.equal(gateways.addresses().get("paper")?.nodeOrders?.get("n2"), "tcp://h:5555");
    // A list on its way, slow; a fence for n1 answers meanwhile.
    let answer: (() => void) | undefined;
    const nodes = fake.nodes.bind(fake);
    fake.nodes = async () => {
      const listed = await nodes();
      await new Promise<void>((r) => (answer = r));
      return { ...listed, [KEY]: 1 };
    };
    fake.nodePorts.delete(KEY_2);
    await relistAt(20);
    const fenced = await gateways.fence("paper", "ACC", "dep-1", 1n, "n1");
    answer?.();
    await settle();
    const routes = gateways.addresses().get("paper")?.nodeOrders;
    assert.equal(
      routes?.get("n1"),
      `tcp://h:${fenced.ok ? fenced.ordersPort : -1}`,
      "the fence's port, not the stale list's",
    );
    assert.equal(routes?.get("n2"), undefined, "a port the gateway no longer lists is dropped");
    await gateways.close();
  });

  test("pushes market-data sources, again after a failure", async () => {
    const fake = new FakeGateway();
    const gateways = onPaper(fake);
    fake.down = true;
    gateways.setMarketData("paper", ["tcp://f:1"]);
    gateways.sync();
    await settle();
    assert.deepEqual(fake.marketSources, []);
    fake.down = false;
    gateways.sync();
    await settle();
    assert.deepEqual(fake.marketSources, ["tcp://f:1"]);
    await gateways.close();
  });

  test("each control channel is opened as this orchestrator's cluster id", async () => {
    const seen: string[] = [];
    const gateways = new Gateways(
      [{ name: "paper", orders: "tcp://h:1", control: "tcp://h:2", publicKey: "" }],
      (_config, controller) => {
        seen.push(controller);
        return new FakeGateway();
      },
      silentLogger(),
      { controller: "cluster-a" },
    );
    assert.deepEqual(seen, ["cluster-a"]);
    await gateways.close();
  });

  test("a fence or market-data push another controller's gateway refuses raises wrong-controller and fails", async () => {
    const { fake, gateways } = twoNodes();
    const refusal = new WrongControllerError("cluster-b", "cluster-a", "wrong-controller: fence refused");
    fake.fence = () => Promise.reject(refusal);
    await assert.rejects(gateways.fence("paper", "ACC", "dep-1", 1n, "n1"), (err) => err === refusal);
    fake.marketData = () => Promise.reject(refusal);
    gateways.setMarketData("paper", ["tcp://f:1"]);
    gateways.sync();
    await settle();
    assert.deepEqual(gateways.alerts.counts(), [{ gateway: "paper", reason: "wrong-controller", count: 2 }]);
    // Any other failure is no alert.
    fake.down = true;
    fake.fence = FakeGateway.prototype.fence.bind(fake);
    await assert.rejects(gateways.fence("paper", "ACC", "dep-1", 1n, "n1"), /fake gateway is down/);
    assert.equal(gateways.alerts.counts()[0]?.count, 2);
    await gateways.close();
  });

  test("reassign: the deployments the gateway holds fenced are taken over (known), others not", async () => {
    const { fake, gateways } = twoNodes();
    fake.fences.set("ACC", fenceEntry("theirs-1", "9", KEY));
    const r = await gateways.reassign("paper", "none", "ops");
    assert.equal(r.highestEpoch, "9");
    assert.equal(gateways.inherited("theirs-1"), true);
    assert.equal(gateways.inherited("theirs-2"), false);
    await assert.rejects(gateways.reassign("nowhere", "none", "ops"), /no gateway nowhere/);
    await gateways.close();
  });
});
