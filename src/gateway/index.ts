/** The broker gateway's public surface: re-exported by name. */
export { startGateway, type RunningGateway } from "./gateway-server.ts";
export type { GatewayOptions } from "./gateway-options.ts";
export { GatewayClient, type GatewayClientOptions } from "./control-client.ts";
export type {
  AccountView,
  FenceEntry,
  FenceResult,
  GatewayControl,
  GatewayStatus,
  OpenOrderView,
} from "./gateway-control.ts";
export {
  NO_CONTROLLER,
  STEERING_OPS,
  WRONG_CONTROLLER,
  WrongControllerError,
  type ControllerView,
  type ReassignResult,
} from "./controller-record.ts";
export { formatAuditLine, refusalsIn, refusalSummary, type AuditQuery, type AuditRecord } from "./audit.ts";
export type { RefusalSummary } from "./refusal-audit.ts";
export { readAudit, readArchive, listArchive, ARCHIVE_DIR } from "./audit-archive.ts";
export { loadOrCreateKeyPair, keyPairPath, readPublicKeyArg, GATEWAY_KEY_FILE } from "./keys.ts";
export { PaperBroker, type PaperBrokerFigures } from "./paper-broker.ts";
export type { BrokerAdapter, BrokerEvent, BrokerOrder } from "./broker-adapter.ts";
export {
  compileGatewayConfig,
  defaultGatewayConfig,
  readGatewayConfig,
  DEFAULT_RISK_LIMITS,
  type GatewayConfig,
  type RiskLimits,
} from "./gateway-config.ts";
export { GatewayRejectCode } from "../protocol/orders/index.ts";
