import assert from "node:assert/strict";
import { test } from "node:test";
import { compileGatewayConfig } from "./gateway-config.ts";
import type { Order } from "../protocol/orders/index.ts";
import { RiskChecks } from "./risk-checks.ts";

const config = compileGatewayConfig({
  risk: {
    default: { maxOrderQty: 100, maxNotional: 10_000, maxOrdersPerSecond: 5, duplicativeWindowMs: 0 },
    accounts: { DUP: { duplicativeWindowMs: 1000 }, BIG: { maxOrderQty: 1000, maxNotional: 1e9 } },
  },
});
const limitsOf = (account: string) => config.accountLimits.get(account) ?? config.defaultLimits;

function order(overrides: Partial<Order> = {}): Order {
  return {
    account: "A",
    clientOrderId: "x",
    symbol: "ES",
    side: "buy",
    qty: 1,
    type: "limit",
    price: 10,
    ...overrides,
  };
}

test("size: above maxOrderQty is risk-size; a per-account override raises it", () => {
  const risk = new RiskChecks(limitsOf);
  assert.equal(risk.check(order({ qty: 101 }), undefined, 0)?.code, "risk-size");
  assert.equal(risk.check(order({ qty: 100 }), undefined, 0), undefined);
  assert.equal(risk.check(order({ account: "BIG", qty: 500 }), undefined, 0), undefined);
});

test("notional: qty × limit price, and qty × last price for a market order", () => {
  const risk = new RiskChecks(limitsOf);
  assert.equal(risk.check(order({ qty: 50, price: 201 }), undefined, 0)?.code, "risk-notional");
  assert.equal(risk.check(order({ qty: 50, price: 200 }), undefined, 0), undefined);
  const market = order({ type: "market", price: undefined, qty: 50 });
  assert.equal(risk.check(market, 250, 0)?.code, "risk-notional");
  assert.equal(risk.check(market, 100, 0), undefined);
});

test("rate: a bucket of one second's worth, refilled on the monotonic clock", () => {
  const risk = new RiskChecks(limitsOf);
  for (let i = 0; i < 5; i++) assert.equal(risk.check(order(), undefined, 1000), undefined, `order ${i}`);
  assert.equal(risk.check(order(), undefined, 1000)?.code, "risk-rate");
  assert.equal(risk.check(order(), undefined, 1100)?.code, "risk-rate"); // 0.5 token
  assert.equal(risk.check(order(), undefined, 1200), undefined); // 1 token after 200 ms at 5/s
  assert.equal(risk.check(order(), undefined, 1200)?.code, "risk-rate");
  // A refused order (size) takes no token.
  assert.equal(risk.check(order({ qty: 1e6 }), undefined, 5000)?.code, "risk-size");
  for (let i = 0; i < 5; i++) assert.equal(risk.check(order(), undefined, 5000), undefined);
});

test("duplicative: an equal order within the window is refused, a different one or a later one passes", () => {
  const risk = new RiskChecks(limitsOf);
  const o = order({ account: "DUP" });
  assert.equal(risk.check(o, undefined, 0), undefined);
  assert.equal(risk.check(o, undefined, 999)?.code, "risk-duplicative");
  assert.equal(risk.check({ ...o, qty: 2 }, undefined, 999), undefined);
  assert.equal(risk.check({ ...o, side: "sell" }, undefined, 999), undefined);
  assert.equal(risk.check(o, undefined, 1000), undefined);
  // Off by default.
  const plain = new RiskChecks(limitsOf);
  assert.equal(plain.check(order(), undefined, 0), undefined);
  assert.equal(plain.check(order(), undefined, 0), undefined);
});
