/**
 * The runner's sidecar post office: local ipc:// sockets bridged to remote peers by the routing
 * table. Start with `post-office.ts` (what it does per socket pattern), then `order-path.ts`
 * (orders: checked, stamped, fenced; the lease asked per order, `queue-watch.ts` for how long an
 * order waited, `token-bucket.ts` for the layout's rate limit) and `market-data-relay.ts` on `relay-thread.ts` (market
 * data, off the main thread). `curve-keys.ts` holds the runner's CURVE key pair. Fakes and test
 * kits are in `testing/`.
 */
export { PostOffice } from "./post-office.ts";
export {
  BRIDGED_PATTERNS,
  checkRoute,
  planSockets,
  type DeploymentSocket,
  type OrderPathState,
  type PlannedSocket,
  type PostOfficeRoute,
  type PostOfficeRouteUpdate,
} from "./deployment-plan.ts";
export {
  compilePostOfficeOptions,
  DEFAULT_HIGH_WATER_MARK,
  NO_LEASE_CHECK,
  ORDER_QUEUE_MS_RANGE,
  DEFAULT_MAX_MARKET_DATA_BYTES,
  DEFAULT_MAX_ORDER_BYTES,
  type PostOfficeLimits,
  type CompiledPostOfficeOptions,
  type LeaseView,
  type PostOfficeOptions,
} from "./post-office-options.ts";
export { DEFAULT_MAX_ORDER_QUEUE_MS } from "./queue-watch.ts";
export { TokenBucket, type OrderRateLimit } from "./token-bucket.ts";
export { type PostOfficeLog, silentLog } from "./post-office-log.ts";
export type { RouteCounters, RouteKind } from "./route-counters.ts";
export type { OrderPathFigures } from "./order-path.ts";
export { REPLY_ROUTES } from "./order-path.ts";
// The order contract lives in src/protocol/orders/; these stay here for the runner's own imports.
export { accountRejectReason, OrderRejectReason } from "../../protocol/orders/index.ts";
export { MAX_IPC_PATH_BYTES } from "./ipc-endpoint.ts";
