/**
 * Why an order was not taken: the closed set of `code`s a `reject` reply carries, one set per
 * sender, and the runner's reasons. A strategy branches on `code`; `reason` is for people (and
 * the runner's reasons stay exactly as they were before codes existed, for strategies that match
 * on them). docs/strategies.md has the table of every code and what a strategy should do.
 */

/** The codes of the rejects the runner answers itself; the order did not leave the node. */
export const RunnerRejectCode = {
  /** The order path is closed: a warm standby, or a runner that lost its lease and fenced itself. */
  PathClosed: "path-closed",
  /** The order names an account not in the deployment's `accounts`. */
  AccountNotAllowed: "account-not-allowed",
  /** No gateway is routed for the order path yet. */
  NoGateway: "no-gateway",
  /** A gateway is routed but the runner has no live connection to it now. */
  GatewayDisconnected: "gateway-disconnected",
  /** Not an order: not one frame, not a JSON object, or a field that breaks its rule. */
  BadOrder: "bad-order",
  /** The runner failed checking the order (a bug in the runner, logged there); it did not leave. */
  Internal: "internal",
  /** Above the deployment's `limits.ordersPerSecond` (and burst) in its layout. */
  RateLimited: "rate-limited",
  /**
   * The runner's lease from the orchestrator had no time left when the order was read or was to
   * leave (its main thread stalled past the lease, or the orchestrator stopped renewing it).
   */
  LeaseExpired: "lease-expired",
  /** The order may have waited in the runner's queue longer than its bound (`maxOrderQueueMs`). */
  QueuedTooLong: "queued-too-long",
} as const;

/** One of the {@link RunnerRejectCode} values. */
export type RunnerRejectCode = (typeof RunnerRejectCode)[keyof typeof RunnerRejectCode];

/** The codes of the gateway's rejects; the order reached the gateway. */
export const GatewayRejectCode = {
  /** The account has no fence entry: default deny. */
  NotFenced: "not-fenced",
  /** Another deployment holds the account. */
  Fenced: "fenced",
  /** The right deployment with an epoch other than the fenced one. */
  StaleEpoch: "stale-epoch",
  /**
   * The right deployment and epoch, sent on a connection authenticated with the CURVE key of a
   * node other than the one the fence names (docs/gateway.md, "Orders bound to a node").
   */
  WrongNode: "wrong-node",
  /** The account's kill switch is on. */
  Killed: "killed",
  /** A quantity above the account's maxOrderQty. */
  RiskSize: "risk-size",
  /** A notional (qty × price, or the last price for a market order) above the account's maxNotional. */
  RiskNotional: "risk-notional",
  /** Above the account's maxOrdersPerSecond. */
  RiskRate: "risk-rate",
  /** An equal order (symbol, side, qty, type, price) on the account within duplicativeWindowMs. */
  RiskDuplicative: "risk-duplicative",
  /** Not a valid envelope, or past the most orders one message may carry. */
  Malformed: "malformed",
  /** Arrived more than maxOrderAgeMs after its runner sent it (a partition delivered it late). */
  StaleOrder: "stale-order",
  /** A market order for a symbol with no known price. */
  NoPrice: "no-price",
  /** The broker refused it. */
  Broker: "broker",
  /**
   * The account or the deployment retains as many consumed order ids as its cap allows
   * (maxOrderIdsPerAccount, maxOrderIdsPerDeployment); the id is not consumed.
   */
  OrderIdCap: "order-id-cap",
} as const;

/** One of the {@link GatewayRejectCode} values. */
export type GatewayRejectCode = (typeof GatewayRejectCode)[keyof typeof GatewayRejectCode];

/** Every code a `reject` reply may carry, whoever sent it. */
export type RejectCode = RunnerRejectCode | GatewayRejectCode;

/** The runner's reject reasons that are fixed sentences; a strategy may match on them. */
export const OrderRejectReason = {
  /** With {@link RunnerRejectCode.PathClosed}. */
  closed: "the order path is closed (standby or self-fenced)",
  /** With {@link RunnerRejectCode.NoGateway}. */
  noGateway: "no gateway is routed for this order path",
  /** With {@link RunnerRejectCode.GatewayDisconnected}. */
  unreachable: "the gateway is not connected",
  /** With {@link RunnerRejectCode.BadOrder}: a message of more (or fewer) than one frame. */
  frames: "expected one frame holding a JSON order",
  /** With {@link RunnerRejectCode.LeaseExpired}. */
  leaseExpired: "the runner's lease from the orchestrator has run out (self-fenced); it was not sent",
} as const;

/** The reason of a {@link RunnerRejectCode.RateLimited} reject. */
export function rateLimitedReason(ordersPerSecond: number, burst: number): string {
  return `above this deployment's limit of ${ordersPerSecond} orders per second (burst ${burst}); it was not sent`;
}

/** The reason of a {@link RunnerRejectCode.QueuedTooLong} reject. */
export function queuedTooLongReason(maxQueueMs: number): string {
  return `the order may have waited more than ${maxQueueMs} ms in the runner's queue; it was not sent`;
}

/** The reason of an {@link RunnerRejectCode.AccountNotAllowed} reject. */
export function accountRejectReason(account: string, allowed: readonly string[]): string {
  return `account ${JSON.stringify(account)} is not one this deployment may trade; allowed: ${allowed.join(", ")}`;
}
