/** The orchestrator's HTTP API (used by the `hive` CLI and any dashboard) and its wire format. */
export { createHttpApi, type HttpApiOptions, type MetricsSource } from "./create-http-api.ts";
export { httpStatusOf, errorCodeOfStatus, toErrorBody, fromErrorBody, type ErrorBody } from "./error-body.ts";
export type { StopResult } from "./layout-routes.ts";
