/** The orchestrator's HTTP API (used by the `hive` CLI and any dashboard) and its wire format. */
export { createHttpApi, type HttpApiOptions, type MetricsSource } from "./create-http-api.ts";
export { httpStatusOf, errorCodeOfStatus, toErrorBody, fromErrorBody, type ErrorBody } from "./error-body.ts";
export type { StopResult } from "./layout-routes.ts";
export { readHttpTls, checkHttpListen, isLoopbackHost, type HttpTls } from "./http-tls.ts";
export { ensureAdminToken, defaultAdminTokenFile } from "./admin-token.ts";
export { API_ROLES, roleAllows, type ApiRole } from "./roles.ts";
export type { TokenView, CreatedToken, RevokedToken } from "./token-routes.ts";
export type { AuditPage } from "./audit-route.ts";
