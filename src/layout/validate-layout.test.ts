import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIssue, layoutSchema, ValidationError, type Layout } from "../domain/index.ts";
import { assertValidLayout, validateLayout } from "./validate-layout.ts";

type RawLayout = {
  name: string;
  services: Record<string, unknown>[];
  wires: { from: string; to: string }[];
  gateways?: { name: string; orders: string[]; marketData?: string[] }[];
};

/** The live shape trading through the gateway daemon `paper` instead of a gateway service. */
function throughGateway(r: RawLayout, accounts: string[] = ["acct-1"]): void {
  r.services[1] = {
    ...service("momentum", { consumes: ["market_data:sub", "orders:dealer"] }),
    kind: "strategy",
    accounts,
  };
  r.services.pop();
  r.wires.pop();
  r.gateways = [{ name: "paper", orders: ["momentum.orders"], marketData: ["feeder.market_data"] }];
}

/** A service whose sockets are written `name:pattern`, with a trailing `?` for optional. */
function service(name: string, sockets: { offers?: string[]; consumes?: string[] } = {}) {
  const spec = (text: string) => {
    const [socket, pattern = ""] = text.replace(/\?$/, "").split(":");
    return { name: socket, pattern, optional: text.endsWith("?") };
  };
  return {
    name,
    kind: "service",
    pool: "live",
    command: "node",
    resources: { cores: 1, memory: "256MiB" },
    sockets: { offers: (sockets.offers ?? []).map(spec), consumes: (sockets.consumes ?? []).map(spec) },
  };
}

/** The live example's shape: feeder → momentum → gateway. */
function base(): RawLayout {
  return {
    name: "live",
    services: [
      service("feeder", { offers: ["market_data:pub"] }),
      service("momentum", { consumes: ["market_data:sub", "orders:dealer"] }),
      service("gateway", { offers: ["orders:router"] }),
    ],
    wires: [
      { from: "feeder.market_data", to: "momentum.market_data" },
      { from: "momentum.orders", to: "gateway.orders" },
    ],
  };
}

function layout(edit: (raw: RawLayout) => void = () => {}): Layout {
  const raw = base();
  edit(raw);
  return layoutSchema.parse(raw);
}

interface Case {
  name: string;
  edit: (raw: RawLayout) => void;
  /** Each expected issue: its exact path, and a pattern its formatted line must match. */
  issues: [path: string, message: RegExp][];
}

const cases: Case[] = [
  { name: "the live shape is valid", edit: () => {}, issues: [] },
  { name: "orders may go to a gateway daemon", edit: (r) => throughGateway(r), issues: [] },
  {
    name: "a strategy wired to a gateway must name its accounts",
    edit: (r) => throughGateway(r, []),
    issues: [["services[1].accounts", /found no accounts, expected a strategy with the accounts/]],
  },
  {
    name: "an orders socket goes to one gateway only",
    edit: (r) => {
      throughGateway(r);
      r.gateways?.push({ name: "other", orders: ["momentum.orders"] });
    },
    issues: [["gateways[1].orders[0]", /already routes/]],
  },
  {
    name: "two strategies may not trade one account",
    edit: (r) => {
      throughGateway(r);
      r.services.push({
        ...service("twin", { consumes: ["market_data:sub?", "orders:dealer"] }),
        kind: "strategy",
        accounts: ["acct-1"],
      });
      r.gateways?.[0]?.orders.push("twin.orders");
    },
    issues: [
      [
        "services[2].accounts",
        /acct-1, also traded by momentum, expected each account traded by one service/,
      ],
    ],
  },
  {
    name: "two strategies may not trade one account, even if only one is routed to a gateway yet",
    edit: (r) => {
      throughGateway(r);
      r.services.push({
        ...service("twin", { consumes: ["market_data:sub?", "orders:dealer?"] }),
        kind: "strategy",
        accounts: ["acct-1"],
      });
    },
    issues: [["services[2].accounts", /acct-1, also traded by momentum/]],
  },
  {
    name: "a strategy that trades through a gateway runs on the live pool",
    edit: (r) => {
      throughGateway(r);
      r.services[1] = { ...r.services[1], pool: "backtest" };
      r.services[0] = { ...r.services[0], pool: "backtest" };
    },
    issues: [
      ["services[1].pool", /found backtest, expected live, as momentum\.orders trades through gateway paper/],
    ],
  },
  {
    name: "a dataset a service reads is in the layout's catalogue",
    edit: (r) => {
      (r as RawLayout & { datasets: unknown[] }).datasets = [
        { id: "es", version: "2026q3", source: "/data/es.csv", size: "1MiB" },
      ];
      r.services[0] = {
        ...r.services[0],
        datasets: [
          { name: "ticks", id: "es", version: "2026q4" },
          { name: "other", id: "nq" },
          { name: "ok", id: "es" },
        ],
      };
    },
    issues: [
      [
        "services[0].datasets[0]",
        /found es version 2026q4, expected a dataset of the layout's datasets catalogue \(it has: es@2026q3\)/,
      ],
      ["services[0].datasets[1]", /found nq, expected a dataset/],
    ],
  },
  {
    name: "gateway ends must be a dealer orders socket and a pub market-data socket",
    edit: (r) => {
      throughGateway(r);
      r.gateways = [
        { name: "paper", orders: ["feeder.market_data"], marketData: ["momentum.market_data", "ghost.x"] },
      ];
    },
    issues: [
      ["gateways[0].orders[0]", /an offered pub socket, expected a consumed dealer socket/],
      ["gateways[0].marketData[0]", /a consumed sub socket, expected an offered pub socket/],
      ["gateways[0].marketData[1]", /found ghost\.x/],
      ["services[1].sockets.consumes[1]", /momentum\.orders \(dealer\) with no wire/],
    ],
  },
  {
    name: "a wire may be written consumer first",
    edit: (r) => (r.wires[0] = { from: "momentum.market_data", to: "feeder.market_data" }),
    issues: [],
  },
  {
    name: "a second feeder may be merged into one sub socket",
    edit: (r) => {
      r.services.push(service("feeder-b", { offers: ["market_data:pub"] }));
      r.wires.push({ from: "feeder-b.market_data", to: "momentum.market_data" });
    },
    issues: [],
  },
  {
    name: "an optional consumed socket may be left unwired",
    edit: (r) => {
      r.services[1] = service("momentum", { consumes: ["market_data:sub", "orders:dealer?"] });
      r.wires.pop();
    },
    issues: [],
  },
  {
    name: "duplicate service name",
    edit: (r) => r.services.push(service("feeder", { offers: ["market_data:pub"] })),
    issues: [
      [
        "services[3].name",
        /found feeder, already the name of services\[0\], expected a service name used once/,
      ],
    ],
  },
  {
    name: "wire end names an unknown service",
    edit: (r) => (r.wires[0] = { from: "fedder.market_data", to: "momentum.market_data" }),
    issues: [
      [
        "wires[0].from",
        /found fedder\.market_data, expected a service of this layout: feeder, momentum, gateway$/,
      ],
    ],
  },
  {
    name: "wire end names an unknown socket (and leaves the real one unwired)",
    edit: (r) => (r.wires[1] = { from: "momentum.order", to: "gateway.orders" }),
    issues: [
      ["wires[1].from", /found momentum\.order, expected a socket of momentum: market_data, orders$/],
      ["services[1].sockets.consumes[1]", /found momentum\.orders \(dealer\) with no wire/],
    ],
  },
  {
    name: "unknown socket of a service that declares none",
    edit: (r) => {
      r.services.push(service("quiet"));
      r.wires.push({ from: "quiet.signal", to: "momentum.market_data" });
    },
    issues: [["wires[2].from", /found quiet\.signal, expected a socket of quiet, but it declares none/]],
  },
  {
    name: "both ends offered",
    edit: (r) => r.wires.push({ from: "feeder.market_data", to: "gateway.orders" }),
    issues: [["wires[2]", /found feeder\.market_data and gateway\.orders, both offered \(bound\) sockets/]],
  },
  {
    name: "both ends consumed",
    edit: (r) => r.wires.push({ from: "momentum.orders", to: "momentum.market_data" }),
    issues: [["wires[2]", /found momentum\.orders and momentum\.market_data, both consumed/]],
  },
  {
    name: "two publishers wired into the orders (dealer) socket: incompatible patterns",
    edit: (r) => {
      r.services.push(service("feeder-b", { offers: ["market_data:pub"] }));
      r.wires[1] = { from: "feeder.market_data", to: "momentum.orders" };
      r.wires.push({ from: "feeder-b.market_data", to: "momentum.orders" });
    },
    issues: [
      [
        "wires[1]",
        /found pub feeder\.market_data wired to dealer momentum\.orders, expected .*router, rep or dealer/,
      ],
      ["wires[2]", /found pub feeder-b\.market_data wired to dealer momentum\.orders/],
    ],
  },
  {
    name: "orders (dealer) wired to two gateways: no fan-in",
    edit: (r) => {
      r.services.push(service("gateway-b", { offers: ["orders:router"] }));
      r.wires.push({ from: "momentum.orders", to: "gateway-b.orders" });
    },
    issues: [
      [
        "wires[2]",
        /found momentum\.orders wired to gateway\.orders \(wires\[1\]\) and to gateway-b\.orders, expected one peer only/,
      ],
    ],
  },
  {
    name: "the same wire twice, in the other order",
    edit: (r) => r.wires.push({ from: "momentum.market_data", to: "feeder.market_data" }),
    issues: [["wires[2]", /already wired at wires\[0\], expected each wire once/]],
  },
  {
    name: "the same order wire twice is reported as a repeat, not as fan-in",
    edit: (r) => r.wires.push({ from: "momentum.orders", to: "gateway.orders" }),
    issues: [["wires[2]", /already wired at wires\[1\]/]],
  },
  {
    name: "non-optional consumed socket left unwired",
    edit: (r) => r.wires.pop(),
    issues: [
      [
        "services[1].sockets.consumes[1]",
        /found momentum\.orders \(dealer\) with no wire, expected a wire to an offered router, rep or dealer socket, or optional: true/,
      ],
    ],
  },
  {
    name: "every issue is reported, services first, then wires, then unwired sockets",
    edit: (r) => {
      r.services.push(service("gateway", { offers: ["orders:router"] }));
      r.wires = [
        { from: "ghost.x", to: "momentum.nope" },
        { from: "feeder.market_data", to: "gateway.orders" },
      ];
    },
    issues: [
      ["services[3].name", /already the name of services\[2\]/],
      ["wires[0].from", /found ghost\.x/],
      ["wires[0].to", /found momentum\.nope/],
      ["wires[1]", /both offered/],
      [
        "services[1].sockets.consumes[0]",
        /momentum\.market_data \(sub\) with no wire, expected a wire to an offered pub/,
      ],
      ["services[1].sockets.consumes[1]", /momentum\.orders \(dealer\) with no wire/],
    ],
  },
];

describe("validateLayout", () => {
  for (const c of cases) {
    it(c.name, () => {
      const issues = validateLayout(layout(c.edit));
      assert.deepEqual(
        issues.map((i) => i.path),
        c.issues.map(([path]) => path),
      );
      issues.forEach((issue, i) => assert.match(formatIssue(issue), c.issues[i]?.[1] ?? /^$/));
    });
  }
});

describe("assertValidLayout", () => {
  it("returns for a valid layout", () => {
    assert.doesNotThrow(() => assertValidLayout(layout()));
  });

  it("throws a ValidationError carrying every issue", () => {
    const bad = layout((r) => (r.wires = []));
    assert.throws(
      () => assertValidLayout(bad),
      (err) => {
        assert.ok(err instanceof ValidationError);
        assert.equal(err.code, "invalid_argument");
        assert.deepEqual(
          err.issues.map((i) => i.path),
          ["services[1].sockets.consumes[0]", "services[1].sockets.consumes[1]"],
        );
        return true;
      },
    );
  });
});
