import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { defaultRestart, portsNeeded, serviceManifestSchema } from "./service-manifest.ts";

/** A minimal valid live strategy; each case changes what it checks. */
const minimal = {
  name: "momentum",
  kind: "strategy",
  pool: "live",
  command: "node",
  resources: { cores: 1, memory: "512MiB" },
};

function manifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...minimal, ...overrides };
}

function parse(input: unknown) {
  return serviceManifestSchema.safeParse(input, { reportInput: true });
}

/** The issues of a rejected manifest as `path` and the value found there. */
function issuesOf(input: unknown): { path: string; code: string; input: unknown; message: string }[] {
  const result = parse(input);
  if (result.success) assert.fail("expected the manifest to be rejected");
  return result.error.issues.map((i) => ({
    path: i.path.join("."),
    code: i.code,
    input: "input" in i ? i.input : undefined,
    message: i.message,
  }));
}

describe("serviceManifestSchema: valid manifests", () => {
  test("a minimal manifest gets every default", () => {
    const result = parse(minimal);
    if (!result.success) assert.fail(result.error.message);
    assert.deepEqual(result.data, {
      name: "momentum",
      kind: "strategy",
      pool: "live",
      command: "node",
      args: [],
      env: {},
      resources: { cores: 1, memoryBytes: 536870912, exclusiveCores: 0 },
      tags: { required: [], preferred: [] },
      datasets: [],
      sockets: { offers: [], consumes: [] },
      ports: [],
      standby: 0,
      accounts: [],
      restart: { policy: "always", maxRestarts: 10, initialBackoffMs: 1000, maxBackoffMs: 60000 },
    });
  });

  const restartByKind: [string, string, string][] = [
    ["backtest", "backtest", "on-failure"],
    ["strategy", "live", "always"],
    ["feeder", "live", "always"],
    ["gateway", "live", "always"],
    ["service", "backtest", "always"],
  ];
  for (const [kind, pool, policy] of restartByKind) {
    test(`a ${kind} gets restart policy ${policy} by default`, () => {
      const result = parse(manifest({ kind, pool }));
      if (!result.success) assert.fail(result.error.message);
      assert.equal(result.data.restart.policy, policy);
      assert.deepEqual(result.data.restart, defaultRestart(result.data.kind));
    });
  }

  test("a given restart policy is kept and its backoff gets defaults", () => {
    const result = parse(manifest({ kind: "backtest", pool: "backtest", restart: { policy: "never" } }));
    if (!result.success) assert.fail(result.error.message);
    assert.deepEqual(result.data.restart, {
      policy: "never",
      maxRestarts: 10,
      initialBackoffMs: 1000,
      maxBackoffMs: 60000,
    });
  });

  const memory: [string | number, number][] = [
    ["512MiB", 536870912],
    ["4GiB", 4294967296],
    ["1.5G", 1_500_000_000],
    [1024, 1024],
  ];
  for (const [written, bytes] of memory) {
    test(`memory ${JSON.stringify(written)} becomes resources.memoryBytes ${bytes}`, () => {
      const result = parse(manifest({ resources: { cores: 1, memory: written } }));
      if (!result.success) assert.fail(result.error.message);
      assert.equal(result.data.resources.memoryBytes, bytes);
      assert.equal("memory" in result.data.resources, false);
    });
  }

  test("a pinned live strategy with a standby, sockets, ports and datasets is accepted", () => {
    const result = parse(
      manifest({
        resources: { cores: 2, memory: "1GiB", exclusiveCores: 2 },
        standby: 3,
        sockets: {
          offers: [{ name: "signals", pattern: "pub" }],
          consumes: [
            { name: "market_data", pattern: "sub", optional: true },
            { name: "orders", pattern: "dealer" },
          ],
        },
        ports: ["metrics", "admin"],
        datasets: [{ name: "ticks", id: "es-2026q3" }],
        tags: { required: ["live_node"], preferred: [{ tag: "region_tokyo", weight: 2 }] },
      }),
    );
    if (!result.success) assert.fail(result.error.message);
    assert.equal(result.data.resources.exclusiveCores, 2);
    assert.equal(result.data.standby, 3);
    assert.deepEqual(result.data.sockets.offers, [{ name: "signals", pattern: "pub", optional: false }]);
    assert.equal(result.data.sockets.consumes[0]?.optional, true);
    assert.equal(portsNeeded(result.data), 3);
  });

  test("cores below the pinned cores are accepted", () => {
    assert.equal(
      parse(manifest({ resources: { cores: 1.5, memory: "1GiB", exclusiveCores: 2 } })).success,
      true,
    );
  });
});

describe("serviceManifestSchema: errors and their paths", () => {
  const { pool: _pool, ...withoutPool } = minimal;
  const cases: {
    what: string;
    input: Record<string, unknown>;
    paths: string[];
    found?: unknown;
    message?: RegExp;
  }[] = [
    { what: "a missing pool (no default pool)", input: withoutPool, paths: ["pool"], found: undefined },
    {
      what: "pool gpu",
      input: manifest({ pool: "gpu" }),
      paths: ["pool"],
      found: "gpu",
      message: /live.*backtest/,
    },
    {
      what: "exclusiveCores on a backtest",
      input: manifest({
        kind: "backtest",
        pool: "backtest",
        resources: { cores: 1, memory: "1GiB", exclusiveCores: 1 },
      }),
      paths: ["resources.exclusiveCores"],
      found: 1,
      message: /live pool/,
    },
    {
      what: "cores above exclusiveCores when pinned",
      input: manifest({ resources: { cores: 3, memory: "1GiB", exclusiveCores: 2 } }),
      paths: ["resources.cores"],
      found: 3,
      message: /exclusiveCores \(2\)/,
    },
    {
      what: "standby on a backtest",
      input: manifest({ kind: "backtest", pool: "backtest", standby: 1 }),
      paths: ["standby"],
      found: 1,
    },
    {
      what: "standby on a live feeder",
      input: manifest({ kind: "feeder", standby: 2 }),
      paths: ["standby"],
      found: 2,
      message: /live strategy/,
    },
    {
      what: "standby on a strategy in the backtest pool",
      input: manifest({ pool: "backtest", standby: 1 }),
      paths: ["standby"],
    },
    { what: "more than 3 standbys", input: manifest({ standby: 4 }), paths: ["standby"], found: 4 },
    {
      what: "accounts on a feeder",
      input: manifest({ kind: "feeder", accounts: ["paper-001"] }),
      paths: ["accounts"],
      message: /strategy/,
    },
    {
      what: "an account listed twice",
      input: manifest({ accounts: ["paper-001", "paper-001"] }),
      paths: ["accounts.1"],
      found: "paper-001",
    },
    {
      what: "an account id with a space",
      input: manifest({ accounts: ["paper 001"] }),
      paths: ["accounts.0"],
    },
    {
      what: "a socket name both offered and consumed, and used again as a port",
      input: manifest({
        sockets: {
          offers: [{ name: "orders", pattern: "router" }],
          consumes: [{ name: "orders", pattern: "dealer" }],
        },
        ports: ["orders"],
      }),
      paths: ["sockets.consumes.0.name", "ports.0"],
      found: "orders",
    },
    {
      what: "a socket name offered twice",
      input: manifest({
        sockets: {
          offers: [
            { name: "a", pattern: "pub" },
            { name: "b", pattern: "pub" },
            { name: "a", pattern: "push" },
          ],
        },
      }),
      paths: ["sockets.offers.2.name"],
      found: "a",
    },
    {
      what: "a port named twice",
      input: manifest({ ports: ["metrics", "metrics"] }),
      paths: ["ports.1"],
      found: "metrics",
    },
    {
      what: "a duplicate dataset name",
      input: manifest({
        datasets: [
          { name: "ticks", id: "es-2026q3" },
          { name: "ticks", id: "nq-2026q3" },
        ],
      }),
      paths: ["datasets.1.name"],
      found: "ticks",
    },
    {
      what: "an unknown field (resorces)",
      input: manifest({ resorces: { cores: 1 } }),
      paths: [""],
      message: /resorces/,
    },
    {
      what: "an unknown field inside resources",
      input: manifest({ resources: { cores: 1, memory: "1GiB", gpus: 1 } }),
      paths: ["resources"],
      message: /gpus/,
    },
    {
      what: "a bad socket pattern",
      input: manifest({ sockets: { offers: [{ name: "md", pattern: "pubsub" }] } }),
      paths: ["sockets.offers.0.pattern"],
      found: "pubsub",
    },
    {
      what: "a socket name with a capital",
      input: manifest({ sockets: { consumes: [{ name: "Orders", pattern: "dealer" }] } }),
      paths: ["sockets.consumes.0.name"],
      found: "Orders",
    },
    {
      what: "service name Momentum",
      input: manifest({ name: "Momentum" }),
      paths: ["name"],
      found: "Momentum",
    },
    { what: "service name starting with a digit", input: manifest({ name: "1momentum" }), paths: ["name"] },
    { what: "an unknown kind", input: manifest({ kind: "daemon" }), paths: ["kind"], found: "daemon" },
    { what: "an empty command", input: manifest({ command: "" }), paths: ["command"] },
    {
      what: "memory that is not a size",
      input: manifest({ resources: { cores: 1, memory: "lots" } }),
      paths: ["resources.memory"],
      found: "lots",
    },
    {
      what: "zero memory",
      input: manifest({ resources: { cores: 1, memory: 0 } }),
      paths: ["resources.memory"],
    },
    {
      what: "zero cores",
      input: manifest({ resources: { cores: 0, memory: "1GiB" } }),
      paths: ["resources.cores"],
      found: 0,
    },
    {
      what: "a preferred tag weight of zero",
      input: manifest({ tags: { preferred: [{ tag: "ssd", weight: 0 }] } }),
      paths: ["tags.preferred.0.weight"],
    },
    {
      what: "an env value that is not a string",
      input: manifest({ env: { LOOKBACK: 20 } }),
      paths: ["env.LOOKBACK"],
    },
    {
      what: "several problems at once, all reported",
      input: manifest({ name: "Momentum", resources: { cores: 0, memory: "lots" } }),
      paths: ["name", "resources.cores", "resources.memory"],
    },
  ];

  for (const c of cases) {
    test(`${c.what}: rejected at ${c.paths.map((p) => (p === "" ? "(manifest)" : p)).join(", ")}`, () => {
      const issues = issuesOf(c.input);
      assert.deepEqual(
        issues.map((i) => i.path),
        c.paths,
      );
      if ("found" in c) assert.equal(issues[0]?.input, c.found);
      if (c.message) assert.match(issues.map((i) => i.message).join("\n"), c.message);
    });
  }
});

describe("portsNeeded", () => {
  test("counts offered sockets and named ports, not consumed sockets", () => {
    assert.equal(
      portsNeeded({
        sockets: {
          offers: [{ name: "a", pattern: "pub", optional: false }],
          consumes: [{ name: "b", pattern: "sub", optional: false }],
        },
        ports: ["metrics", "admin"],
      }),
      3,
    );
  });
});

describe("serviceManifestSchema: limits (the rate limit at the source)", () => {
  const trader = (limits: unknown) => ({
    name: "momentum",
    kind: "strategy",
    pool: "live",
    command: "node",
    resources: { cores: 1, memory: "256MiB" },
    sockets: { consumes: [{ name: "orders", pattern: "dealer" }] },
    limits,
  });

  test("ordersPerSecond with its burst; the burst defaults to one second's worth, at least 1", () => {
    const parse = (limits: unknown) => serviceManifestSchema.parse(trader(limits)).limits;
    assert.deepEqual(parse({ ordersPerSecond: 50, orderBurst: 10 }), { ordersPerSecond: 50, orderBurst: 10 });
    assert.deepEqual(parse({ ordersPerSecond: 20.5 }), { ordersPerSecond: 20.5, orderBurst: 21 });
    assert.deepEqual(parse({ ordersPerSecond: 0.2 }), { ordersPerSecond: 0.2, orderBurst: 1 });
    assert.equal(serviceManifestSchema.parse({ ...trader(undefined), limits: undefined }).limits, undefined);
  });

  test("a rate of zero or less, a burst below 1 or not whole, and unknown fields are refused", () => {
    for (const [limits, message] of [
      [{ ordersPerSecond: 0 }, /a rate above zero/],
      [{ ordersPerSecond: -5 }, /a rate above zero/],
      [{ ordersPerSecond: 10, orderBurst: 0 }, /a burst of at least 1/],
      [{ ordersPerSecond: 10, orderBurst: 2.5 }, /a whole number of orders/],
      [{ ordersPerSecond: 2_000_000 }, /at most 1000000 orders per second/],
      [{ ordersPerSec: 10 }, /./],
    ] as const) {
      const result = serviceManifestSchema.safeParse(trader(limits));
      assert.equal(result.success, false, JSON.stringify(limits));
      assert.match(JSON.stringify(result.error?.issues), message);
    }
  });

  test("limits on a service with no orders socket are refused: there is nothing to limit", () => {
    const result = serviceManifestSchema.safeParse({
      ...trader({ ordersPerSecond: 5 }),
      sockets: { consumes: [{ name: "md", pattern: "sub" }] },
    });
    assert.equal(result.success, false);
    assert.match(JSON.stringify(result.error?.issues), /consumes a dealer \(orders\) socket/);
  });
});
