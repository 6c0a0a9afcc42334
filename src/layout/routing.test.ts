import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { HiveError } from "../core/hive-error.ts";
import { layoutSchema } from "../domain/index.ts";
import { readLayoutFile } from "./read-layout-file.ts";
import { computeRoutes, localEndpoint, type DeploymentInstance } from "./routing.ts";

const live = readLayoutFile(
  fileURLToPath(new URL("../../test/fixtures/live-gateway-service.yaml", import.meta.url)),
);
const runDir = "/run/hive";
const FEED = "tcp://10.0.0.1:7001";
const GATE = "tcp://10.0.0.4:7100";

/** The live example placed on four nodes: feeder n1, momentum active n2 and standby n3, gateway n4. */
const placed: DeploymentInstance[] = [
  {
    deploymentId: "d-feed",
    service: "feeder",
    role: "active",
    nodeId: "n1",
    addresses: { market_data: FEED },
  },
  { deploymentId: "d-mom-a", service: "momentum", role: "active", nodeId: "n2", addresses: {} },
  { deploymentId: "d-mom-s", service: "momentum", role: "standby", nodeId: "n3", addresses: {} },
  { deploymentId: "d-gate", service: "gateway", role: "active", nodeId: "n4", addresses: { orders: GATE } },
];

function momentumRoutes(id: string, feed: string[], gate: string[]) {
  return [
    {
      deploymentId: id,
      socket: "market_data",
      pattern: "sub",
      local: `ipc:///run/hive/strategies/${id}/market_data`,
      remotes: feed,
    },
    {
      deploymentId: id,
      socket: "orders",
      pattern: "dealer",
      local: `ipc:///run/hive/strategies/${id}/orders`,
      remotes: gate,
    },
  ];
}

describe("computeRoutes", () => {
  it("routes the live example: active and standby momentum both reach the feeder and the gateway", () => {
    const tables = computeRoutes(live, placed, { runDir });
    assert.deepEqual(
      tables,
      new Map([
        ["n2", momentumRoutes("d-mom-a", [FEED], [GATE])],
        ["n3", momentumRoutes("d-mom-s", [FEED], [GATE])],
      ]),
    );
  });

  it("gives nodes that host only producers no entry", () => {
    const tables = computeRoutes(live, placed, { runDir });
    assert.deepEqual([...tables.keys()], ["n2", "n3"]);
  });

  it("does not route to a standby producer", () => {
    const spare: DeploymentInstance = {
      deploymentId: "d-feed-s",
      service: "feeder",
      role: "standby",
      nodeId: "n5",
      addresses: { market_data: "tcp://10.0.0.5:7001" },
    };
    const tables = computeRoutes(live, [...placed, spare], { runDir });
    assert.deepEqual(tables.get("n2")?.[0]?.remotes, [FEED]);
  });

  it("leaves remotes empty while no producer is active, keeping the local endpoint", () => {
    const tables = computeRoutes(
      live,
      placed.filter((i) => i.service !== "gateway"),
      { runDir },
    );
    assert.deepEqual(tables.get("n2"), momentumRoutes("d-mom-a", [FEED], []));
  });

  it("merges every wired producer into a fan-in socket, sorted and without repeats", () => {
    const layout = layoutSchema.parse({
      name: "two-feeds",
      services: [
        manifest("feed-a", { offers: [{ name: "md", pattern: "pub" }] }),
        manifest("feed-b", { offers: [{ name: "md", pattern: "pub" }] }),
        manifest("algo", { consumes: [{ name: "md", pattern: "sub" }] }),
      ],
      wires: [
        { from: "feed-b.md", to: "algo.md" },
        { from: "algo.md", to: "feed-a.md" },
      ],
    });
    const instances: DeploymentInstance[] = [
      {
        deploymentId: "b",
        service: "feed-b",
        role: "active",
        nodeId: "n1",
        addresses: { md: "tcp://10.0.0.2:1" },
      },
      {
        deploymentId: "a",
        service: "feed-a",
        role: "active",
        nodeId: "n1",
        addresses: { md: "tcp://10.0.0.1:1" },
      },
      { deploymentId: "x", service: "algo", role: "active", nodeId: "n2", addresses: {} },
    ];
    const routes = computeRoutes(layout, instances, { runDir });
    assert.deepEqual(routes.get("n2")?.[0]?.remotes, ["tcp://10.0.0.1:1", "tcp://10.0.0.2:1"]);
  });

  it("routes an unwired optional socket to nothing", () => {
    const layout = layoutSchema.parse({
      name: "alone",
      services: [manifest("algo", { consumes: [{ name: "md", pattern: "sub", optional: true }] })],
    });
    const instance = {
      deploymentId: "x",
      service: "algo",
      role: "active",
      nodeId: "n1",
      addresses: {},
    } as const;
    const routes = computeRoutes(layout, [instance], { runDir });
    assert.deepEqual(routes.get("n1")?.[0]?.remotes, []);
  });

  it("sorts each node's routes by deployment id then socket, whatever the input order", () => {
    const together = placed.map((i) => ({ ...i, nodeId: "n1" }));
    const forward = computeRoutes(live, together, { runDir });
    const backward = computeRoutes(live, [...together].reverse(), { runDir });
    assert.deepEqual(forward, backward);
    assert.deepEqual(
      forward.get("n1")?.map((r) => `${r.deploymentId}/${r.socket}`),
      ["d-mom-a/market_data", "d-mom-a/orders", "d-mom-s/market_data", "d-mom-s/orders"],
    );
  });

  it("fails with FailedPrecondition when an active producer has no address for a wired socket", () => {
    const noAddress = placed.map((i) => (i.service === "gateway" ? { ...i, addresses: {} } : i));
    assert.throws(
      () => computeRoutes(live, noAddress, { runDir }),
      (err) =>
        err instanceof HiveError &&
        err.code === "failed_precondition" &&
        /d-gate of gateway on node n4 has no address for its offered socket orders/.test(err.message),
    );
  });

  it("fails with Internal on an instance of a service the layout does not have", () => {
    const stray = {
      deploymentId: "d-x",
      service: "ghost",
      role: "active",
      nodeId: "n9",
      addresses: {},
    } as const;
    assert.throws(
      () => computeRoutes(live, [...placed, stray], { runDir }),
      (err) => err instanceof HiveError && err.code === "internal" && /service ghost/.test(err.message),
    );
  });

  it("fails with Internal on a deployment id given twice", () => {
    assert.throws(
      () => computeRoutes(live, [...placed, placed[1] as DeploymentInstance], { runDir }),
      (err) =>
        err instanceof HiveError && err.code === "internal" && /d-mom-a is given twice/.test(err.message),
    );
  });

  it("fails with Internal on a layout whose wires do not resolve", () => {
    const broken = { ...live, wires: [{ from: { service: "ghost", socket: "x" }, to: live.wires[0]!.to }] };
    assert.throws(
      () => computeRoutes(broken, placed, { runDir }),
      (err) => err instanceof HiveError && err.code === "internal" && /wires\[0\]/.test(err.message),
    );
  });
});

describe("localEndpoint", () => {
  it("puts the socket under the deployment's directory", () => {
    assert.equal(localEndpoint("/run/hive", "d1", "orders"), "ipc:///run/hive/strategies/d1/orders");
    assert.equal(localEndpoint("/run/hive/", "d1", "orders"), "ipc:///run/hive/strategies/d1/orders");
  });

  it("refuses a deployment id that would leave the strategies directory", () => {
    for (const id of ["", "..", "a/b", "../etc"]) {
      assert.throws(
        () => localEndpoint("/run/hive", id, "orders"),
        (err) => err instanceof HiveError && err.code === "invalid_argument",
        id,
      );
    }
  });
});

function manifest(name: string, sockets: Record<string, unknown>) {
  return {
    name,
    kind: "service",
    pool: "live",
    command: "x",
    resources: { cores: 1, memory: "1MiB" },
    sockets,
  };
}

describe("computeRoutes to a gateway daemon", () => {
  const layout = layoutSchema.parse({
    name: "via-gateway",
    services: [
      {
        name: "feeder",
        kind: "feeder",
        pool: "live",
        command: "node",
        resources: { cores: 0.5, memory: "64MiB" },
        sockets: { offers: [{ name: "market_data", pattern: "pub" }] },
      },
      {
        name: "momentum",
        kind: "strategy",
        pool: "live",
        command: "node",
        accounts: ["acct-1"],
        resources: { cores: 0.5, memory: "64MiB" },
        sockets: {
          consumes: [
            { name: "market_data", pattern: "sub" },
            { name: "orders", pattern: "dealer" },
          ],
        },
        standby: 1,
      },
    ],
    wires: [{ from: "feeder.market_data", to: "momentum.market_data" }],
    gateways: [{ name: "paper", orders: ["momentum.orders"], marketData: ["feeder.market_data"] }],
  });
  const instances = placed.filter((p) => p.service !== "gateway");
  const withKey = (key: string | undefined, id: string, remotes: string[]) => {
    const [md, orders] = momentumRoutes(id, [FEED], remotes);
    return [md, key === undefined ? orders : { ...orders, serverKey: key }];
  };

  it("routes active and standby orders to the gateway's address, with its CURVE key", () => {
    const gateways = new Map([["paper", { orders: GATE, publicKey: "K".repeat(40) }]]);
    const tables = computeRoutes(layout, instances, { runDir, gateways });
    assert.deepEqual(
      tables,
      new Map([
        ["n2", withKey("K".repeat(40), "d-mom-a", [GATE])],
        ["n3", withKey("K".repeat(40), "d-mom-s", [GATE])],
      ]),
    );
  });

  it("routes to plain TCP for a gateway without CURVE, and nowhere for an unknown gateway", () => {
    const plain = computeRoutes(layout, instances, {
      runDir,
      gateways: new Map([["paper", { orders: GATE, publicKey: "" }]]),
    });
    assert.deepEqual(plain.get("n2"), withKey(undefined, "d-mom-a", [GATE]));
    const unknown = computeRoutes(layout, instances, { runDir });
    assert.deepEqual(unknown.get("n2"), withKey(undefined, "d-mom-a", []));
  });
});
