/**
 * Pre-trade risk checks of one order, per account: size, notional, rate and duplicative orders.
 * Pure apart from the state it keeps (token buckets, recent orders); time comes from the caller's
 * monotonic clock (ms), so a test drives it without waiting and a wall-clock jump cannot refill a
 * bucket.
 *
 * Order of the checks: size, notional, rate, duplicative. A refused order takes no token and is
 * not remembered as a recent order; an accepted one does both.
 */
import type { RiskLimits } from "./gateway-config.ts";
import { GatewayRejectCode, type Order } from "../protocol/orders/index.ts";

/** A risk reject: its code and the reason for people. */
export interface RiskRefusal {
  readonly code: GatewayRejectCode;
  readonly reason: string;
}

/** The risk state of one account. */
interface AccountRisk {
  readonly limits: RiskLimits;
  tokens: number;
  refilledAtMs: number;
  /** Duplicative key → when an equal order was last accepted. */
  readonly recent: Map<string, number>;
  /** When `recent` was last swept of entries older than the window. */
  sweptAtMs: number;
}

/** The risk checks of every account; see the file comment. */
export class RiskChecks {
  readonly #accounts = new Map<string, AccountRisk>();

  constructor(
    /** The limits of an account (the default block merged with its overrides). */
    private readonly limitsOf: (account: string) => RiskLimits,
  ) {}

  /**
   * Checks an order at monotonic time `nowMs`; undefined if it passes (and then it is counted).
   * `lastPrice` is the symbol's last known price, used for a market order's notional.
   */
  check(order: Order, lastPrice: number | undefined, nowMs: number): RiskRefusal | undefined {
    const risk = this.#risk(order.account, nowMs);
    const { limits } = risk;
    if (order.qty > limits.maxOrderQty) {
      return {
        code: GatewayRejectCode.RiskSize,
        reason: `qty ${order.qty} is above maxOrderQty ${limits.maxOrderQty} of account ${order.account}`,
      };
    }
    const price = order.price ?? lastPrice;
    if (price !== undefined && order.qty * price > limits.maxNotional) {
      return {
        code: GatewayRejectCode.RiskNotional,
        reason: `notional ${order.qty * price} is above maxNotional ${limits.maxNotional} of account ${order.account}`,
      };
    }
    refill(risk, nowMs);
    if (risk.tokens < 1) {
      return {
        code: GatewayRejectCode.RiskRate,
        reason: `account ${order.account} is above maxOrdersPerSecond ${limits.maxOrdersPerSecond}`,
      };
    }
    let key: string | undefined;
    if (limits.duplicativeWindowMs > 0) {
      key = duplicativeKey(order);
      const last = risk.recent.get(key);
      if (last !== undefined && nowMs - last < limits.duplicativeWindowMs) {
        return {
          code: GatewayRejectCode.RiskDuplicative,
          reason: `an equal order was accepted ${Math.round(nowMs - last)} ms ago, within duplicativeWindowMs ${limits.duplicativeWindowMs}`,
        };
      }
    }
    risk.tokens -= 1;
    if (key !== undefined) {
      risk.recent.set(key, nowMs);
      sweep(risk, nowMs);
    }
    return undefined;
  }

  #risk(account: string, nowMs: number): AccountRisk {
    let risk = this.#accounts.get(account);
    if (risk === undefined) {
      const limits = this.limitsOf(account);
      risk = {
        limits,
        tokens: limits.maxOrdersPerSecond,
        refilledAtMs: nowMs,
        recent: new Map(),
        sweptAtMs: nowMs,
      };
      this.#accounts.set(account, risk);
    }
    return risk;
  }
}

/** Token bucket: refills at maxOrdersPerSecond, holds at most one second's worth (at least 1). */
function refill(risk: AccountRisk, nowMs: number): void {
  const rate = risk.limits.maxOrdersPerSecond;
  const elapsed = nowMs - risk.refilledAtMs;
  if (elapsed <= 0) return;
  risk.tokens = Math.min(Math.max(rate, 1), risk.tokens + (elapsed * rate) / 1000);
  risk.refilledAtMs = nowMs;
}

/** Drops remembered orders older than the window, at most once per window. */
function sweep(risk: AccountRisk, nowMs: number): void {
  const window = risk.limits.duplicativeWindowMs;
  if (nowMs - risk.sweptAtMs < window) return;
  risk.sweptAtMs = nowMs;
  for (const [key, at] of risk.recent) if (nowMs - at >= window) risk.recent.delete(key);
}

function duplicativeKey(order: Order): string {
  return `${order.symbol}\u0001${order.side}\u0001${order.qty}\u0001${order.type}\u0001${order.price ?? ""}`;
}
