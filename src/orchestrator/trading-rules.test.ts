import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { layoutSchema } from "../domain/index.ts";
import { gatewayIssues, gatewaysForAccount, marketDataSources, type AppliedLayout } from "./trading-rules.ts";

const strategy = (name: string, accounts: string[]) => ({
  name,
  kind: "strategy",
  pool: "live",
  command: "node",
  accounts,
  resources: { cores: 0.5, memory: "64MiB" },
  sockets: { consumes: [{ name: "orders", pattern: "dealer" }] },
});
const feeder = {
  name: "feeder",
  kind: "feeder",
  pool: "live",
  command: "node",
  resources: { cores: 0.5, memory: "64MiB" },
  sockets: { offers: [{ name: "market_data", pattern: "pub" }] },
};

function applied(name: string, accounts: string[], gateway = "paper", stopping = false): AppliedLayout {
  const layout = layoutSchema.parse({
    name,
    services: [feeder, strategy("alpha", accounts)],
    gateways: [{ name: gateway, orders: ["alpha.orders"], marketData: ["feeder.market_data"] }],
  });
  return { name, layout, stopping };
}

describe("trading rules", () => {
  test("an unknown gateway and an account traded by another layout are issues; a stopping layout frees its accounts", () => {
    const mine = applied("mine", ["acct-1", "acct-2"], "other").layout;
    const issues = gatewayIssues(mine, ["paper"], [applied("theirs", ["acct-2"])]);
    assert.deepEqual(
      issues.map((i) => [i.path, i.found]),
      [
        ["gateways[0].name", "other"],
        ["services[1].accounts", "acct-2, traded by alpha of layout theirs"],
      ],
    );
    assert.deepEqual(gatewayIssues(mine, ["other"], [applied("theirs", ["acct-2"], "paper", true)]), []);
    assert.match(gatewayIssues(mine, [], [])[0]?.expected ?? "", /it has none/);
  });

  test("an account's gateways are those its strategies trade through; all of them if none does", () => {
    const layouts = [applied("a", ["acct-1"], "paper"), applied("b", ["acct-2"], "prime")];
    assert.deepEqual(gatewaysForAccount("acct-2", layouts, ["paper", "prime"]), ["prime"]);
    assert.deepEqual(gatewaysForAccount("nobody", layouts, ["paper", "prime"]), ["paper", "prime"]);
  });

  test("market data: running active publishers named by a layout, per gateway", () => {
    const layouts = [applied("a", ["acct-1"], "paper")];
    const run = (role: "active" | "standby", running: boolean, address: string) => ({
      layout: "a",
      service: "feeder",
      role,
      running,
      addresses: { market_data: address },
    });
    const sources = marketDataSources(
      layouts,
      [
        run("active", true, "tcp://h:1"),
        run("standby", true, "tcp://h:2"),
        run("active", false, "tcp://h:3"),
      ],
      ["paper", "prime"],
    );
    assert.deepEqual(
      [...sources],
      [
        ["paper", ["tcp://h:1"]],
        ["prime", []],
      ],
    );
  });
});
