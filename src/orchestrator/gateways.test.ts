import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { silentLogger } from "../core/logger.ts";
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

  test("a fence names the node's key; the port it answers becomes that node's route, and only that node's", async () => {
    const fake = new FakeGateway();
    let routeChanges = 0;
    const gateways = onPaper(fake, { onRoutes: () => (routeChanges += 1) });
    gateways.setRunnerKey("n1", KEY);
    gateways.setRunnerKey("n2", KEY_2);
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
    const fake = new FakeGateway();
    const gateways = onPaper(fake);
    gateways.setRunnerKey("n1", KEY);
    gateways.setRunnerKey("n2", KEY_2);
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
    let now = 0;
    const fake = new FakeGateway();
    const gateways = onPaper(fake, { relistMs: 10, now: () => now });
    gateways.setRunnerKey("n1", KEY);
    const me = { deploymentId: "dep-1", epoch: 3n, nodeId: "n1" };
    assert.equal(gateways.fenceStale("paper", "ACC", 0, me), false, "nothing read yet: unknown");
    gateways.sync();
    await settle();
    assert.equal(gateways.fenceStale("paper", "ACC", 0, me), true, "no fence at all");
    await gateways.fence("paper", "ACC", "dep-1", 3n, "n1");
    now = 20;
    gateways.sync();
    await settle();
    assert.equal(gateways.fenceStale("paper", "ACC", 0, me), false, "bound to its node");
    // A fence written before node binding: same instance, no node.
    fake.fences.set("ACC", {
      account: "ACC",
      deploymentId: "dep-1",
      epoch: "3",
      nodeKey: null,
      fencedAtUnixMs: 0,
    });
    now = 40;
    gateways.sync();
    await settle();
    assert.equal(gateways.fenceStale("paper", "ACC", 0, me), true, "naming no node");
    // The runner came back with a new key.
    await gateways.fence("paper", "ACC", "dep-1", 3n, "n1");
    gateways.setRunnerKey("n1", KEY_2);
    now = 60;
    gateways.sync();
    await settle();
    assert.equal(gateways.fenceStale("paper", "ACC", 0, me), true, "naming the node's old key");
    assert.equal(gateways.fenceStale("paper", "ACC", 100, me), false, "read before `since`: unknown");
    // Another deployment holds it: not taken back.
    fake.fences.set("ACC", {
      account: "ACC",
      deploymentId: "dep-2",
      epoch: "4",
      nodeKey: KEY,
      fencedAtUnixMs: 0,
    });
    now = 80;
    gateways.sync();
    await settle();
    assert.equal(gateways.fenceStale("paper", "ACC", 0, me), false);
    await gateways.close();
  });

  test("the ports a gateway lists replace what was known, but not a port a fence answered while the list was out", async () => {
    let now = 0;
    const fake = new FakeGateway();
    const gateways = onPaper(fake, { relistMs: 10, now: () => now });
    gateways.setRunnerKey("n1", KEY);
    gateways.setRunnerKey("n2", KEY_2);
    fake.nodePorts.set(KEY_2, 5555);
    gateways.sync();
    await settle();
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
    now = 20;
    gateways.sync();
    await settle();
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
});
