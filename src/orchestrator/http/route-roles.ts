/**
 * Every route of the HTTP API and the role it needs: one table, the only place a route's access
 * is decided. createHttpApi refuses to register a route that is not here (a route without a
 * declared role is a bug, caught when the server is built and by route-roles.test.ts, which walks
 * fastify's routes), and a request is checked against its route's entry before anything else runs.
 *
 * `audit` names the body fields written to the audit trail with a change (its path parameters
 * always are): what identifies the change, never a secret (not a layout's source, which may hold
 * env values; not a token).
 */
import type { ApiRole } from "./roles.ts";

/** Who may call a route: a role (roles.ts), or anyone (`public`: only the health check). */
export interface RouteRule {
  readonly role: ApiRole | "public";
  /** Body fields written to the audit trail with the change. */
  readonly audit?: readonly string[];
}

/** The table, keyed `METHOD /path` as the route is declared (HEAD follows GET). */
export const ROUTE_ROLES: Readonly<Record<string, RouteRule>> = {
  // Load balancers and `hive dev` probe it; it says nothing but "up".
  "GET /healthz": { role: "public" },
  "GET /metrics": { role: "viewer" },

  "GET /v1/layouts": { role: "viewer" },
  "GET /v1/layouts/:name": { role: "viewer" },
  "POST /v1/layouts": { role: "operator", audit: ["file"] },
  "DELETE /v1/layouts/:name": { role: "operator" },

  "GET /v1/nodes": { role: "viewer" },
  "POST /v1/nodes/:id/drain": { role: "operator", audit: ["draining"] },
  "GET /v1/datasets": { role: "viewer" },

  "GET /v1/deployments": { role: "viewer" },
  "GET /v1/explain": { role: "viewer" },
  "GET /v1/deployments/:id/logs": { role: "viewer" },

  "POST /v1/failover": { role: "trader", audit: ["layout", "service"] },
  "POST /v1/accounts/:account/kill": { role: "trader", audit: ["reason", "force"] },
  "DELETE /v1/accounts/:account/kill": { role: "trader" },
  "GET /v1/accounts": { role: "viewer" },
  // Moves who steers a gateway (one controller per gateway, docs/gateway.md): admin only.
  "POST /v1/gateways/:gateway/reassign": { role: "admin", audit: ["from"] },

  // Any valid token may ask who it is.
  "GET /v1/whoami": { role: "viewer" },
  "GET /v1/tokens": { role: "admin" },
  "POST /v1/tokens": { role: "admin", audit: ["name", "role", "expiresAt"] },
  "DELETE /v1/tokens/:token": { role: "admin" },
  // Who did what, from where: reconnaissance for an attacker, so admin only.
  "GET /v1/audit": { role: "admin" },
};

/** The rule of a route, or undefined when the table has none. */
export function ruleOf(method: string, url: string): RouteRule | undefined {
  return ROUTE_ROLES[`${method === "HEAD" ? "GET" : method} ${url}`];
}

/** Whether calls of this method change something (and so are audited). */
export function isChange(method: string): boolean {
  return method !== "GET" && method !== "HEAD" && method !== "OPTIONS";
}
