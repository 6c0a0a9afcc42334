import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { silentLogger } from "../core/logger.ts";
import { Gateways, parseGatewayFlag, RELIST_MS, type GatewaysOptions } from "./gateways.ts";
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
  /** Gateways with one gateway, "paper", whose control channel is `fake`. */
  const onPaper = (fake: FakeGateway, options: GatewaysOptions) =>
    new Gateways(
      [{ name: "paper", orders: "tcp://h:1", control: "tcp://h:2", publicKey: "" }],
      () => fake,
      silentLogger(),
      options,
    );
  /** Lets the syncs started meanwhile finish (the fake answers at once). */
  const settle = () => new Promise((r) => setTimeout(r, 20));

  test("pushes runner keys and market-data sources, pushes again after a failure, revokes a key dropped", async () => {
    const fake = new FakeGateway();
    const gateways = onPaper(fake, { revokeAfterMs: 0 });
    gateways.armRevocation();
    fake.down = true;
    gateways.setRunnerKey("n1", KEY);
    gateways.setMarketData("paper", ["tcp://b:2", "tcp://a:1", "tcp://a:1"]);
    gateways.sync();
    await settle();
    assert.equal(fake.authorized.size, 0);
    fake.down = false;
    gateways.sync();
    await settle();
    assert.equal(fake.authorized.get("n1"), KEY);
    assert.deepEqual(fake.marketSources, ["tcp://a:1", "tcp://b:2"]);
    // The runner registers again without a key: the old one is revoked at the gateway.
    gateways.setRunnerKey("n1", "");
    gateways.sync();
    await settle();
    assert.equal(fake.authorized.has("n1"), false);
    assert.throws(() => gateways.control("other"), /no gateway other \(configured: paper\)/);
    await gateways.close();
  });

  test("after a restart, keys the gateway holds for nodes that never register again are revoked once the grace period is over", async () => {
    const fake = new FakeGateway();
    const OTHER = "o)FI+kE3ZX)E2h)+x9v[4tSd1qKC2]8VM&YVIj35";
    fake.authorized.set("gone", KEY);
    fake.authorized.set("back", OTHER);
    let now = 1_000;
    const gateways = onPaper(fake, { revokeAfterMs: 30_000, now: () => now });
    now += 60_000;
    gateways.sync();
    await settle();
    assert.ok(
      fake.authorized.has("gone"),
      "nothing is revoked before revocation is armed (runners cannot register yet)",
    );
    gateways.armRevocation();
    let authorizeCalls = 0;
    const authorize = fake.authorize.bind(fake);
    fake.authorize = (nodeId, key) => {
      authorizeCalls += 1;
      return authorize(nodeId, key);
    };
    gateways.setRunnerKey("back", OTHER);
    gateways.sync();
    await settle();
    assert.deepEqual(Object.fromEntries(fake.authorized), { gone: KEY, back: OTHER }, "nothing revoked yet");
    assert.equal(authorizeCalls, 0, "a key the gateway already holds is not pushed again");

    now += 29_999;
    gateways.sync();
    await settle();
    assert.ok(fake.authorized.has("gone"), "still inside the grace period");

    now += 1;
    gateways.sync();
    await settle();
    assert.deepEqual(Object.fromEntries(fake.authorized), { back: OTHER });
    // The node comes back later: its key is pushed again.
    gateways.setRunnerKey("gone", KEY);
    gateways.sync();
    await settle();
    assert.equal(fake.authorized.get("gone"), KEY);

    // The gateway lost its state (a fresh state directory): the keys are read again and pushed.
    fake.authorized.clear();
    now += RELIST_MS;
    gateways.sync();
    await settle();
    assert.deepEqual(Object.fromEntries(fake.authorized), { back: OTHER, gone: KEY });
    await gateways.close();
  });

  test("a runner that registers while its key's revoke is on the wire gets its key pushed after it", async () => {
    const fake = new FakeGateway();
    fake.authorized.set("slow", KEY);
    // The control channel is FIFO: calls reach the gateway in order, here only on release.
    const wire: (() => void)[] = [];
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    for (const op of ["authorize", "revoke"] as const) {
      const real = fake[op].bind(fake) as (nodeId: string, key?: string) => Promise<void>;
      fake[op] = (nodeId: string, key?: string) => {
        const applied = new Promise<void>((resolve) => wire.push(() => void real(nodeId, key).then(resolve)));
        return gate.then(() => applied);
      };
    }
    void gate.then(() => {
      for (const apply of wire) apply();
    });
    const gateways = onPaper(fake, { revokeAfterMs: 0 });
    gateways.armRevocation();
    gateways.sync();
    await settle();
    assert.equal(wire.length, 1, "the revoke of the unregistered node is on its way");
    gateways.setRunnerKey("slow", KEY);
    const ensured = gateways.ensureAuthorized("paper", "slow");
    await settle();
    assert.equal(wire.length, 2, "the key is pushed again behind the revoke");
    release();
    await ensured;
    await settle();
    assert.equal(fake.authorized.get("slow"), KEY);
    await gateways.close();
  });
});
