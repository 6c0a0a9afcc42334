/**
 * Who may call what, and the record of what changed. Three fastify hooks, installed before any
 * route:
 * - onRoute: a route whose role route-roles.ts does not declare is refused when the server is
 *   built (a bug, never a route open to all);
 * - onRequest (after the Host check): the bearer token is looked up and its role checked against
 *   the route's. No token: 401 with `WWW-Authenticate: Bearer`; a token unknown, revoked or
 *   expired: 401; a role that is not enough: 403. Nothing of the route runs before this;
 * - onSend: every call that changes something (every method but GET and HEAD), refused or not,
 *   is written to the audit trail in the store before its answer goes out, with who (token,
 *   role, address), what (method, route, path parameters, the body fields the table names),
 *   when and the outcome (status, error code).
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Logger } from "../../core/logger.ts";
import type { ApiTokenRecord, AuditInput } from "../store/auth-records.ts";
import type { Store } from "../store/store.ts";
import { parseToken, secretMatches, tokenUnusable } from "./api-tokens.ts";
import { roleAllows } from "./roles.ts";
import { isChange, ruleOf } from "./route-roles.ts";

/** What of the store the API's security uses. */
export type ApiSecurityStore = Pick<
  Store,
  "getToken" | "putToken" | "listTokens" | "revokeToken" | "appendAudit" | "listAudit"
>;

/** How many audit entries to keep, per class (auth-records.ts). */
export interface AuditKeep {
  /** Entries of calls made with a known token (default 100,000). */
  readonly known: number;
  /** Entries of calls nobody known made: 401s (default 10,000). */
  readonly anonymous: number;
}

/** The default caps: about 300 bytes an entry, at most about 1 KiB (auth-records.ts cuts). */
export const DEFAULT_AUDIT_KEEP: AuditKeep = { known: 100_000, anonymous: 10_000 };

/** Options of {@link installApiGuard}. */
export interface ApiGuardOptions {
  readonly store: ApiSecurityStore;
  readonly now: () => Date;
  readonly auditKeep: AuditKeep;
  readonly log?: Logger;
}

/** A route of the API as fastify registered it. */
export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
}

const routesByApp = new WeakMap<FastifyInstance, RegisteredRoute[]>();
const principals = new WeakMap<FastifyRequest, ApiTokenRecord>();
const notes = new WeakMap<FastifyRequest, Record<string, string>>();
const errorCodes = new WeakMap<FastifyRequest, string>();

/** Every route fastify registered on `app` (HEAD routes included), as its onRoute hook saw them. */
export function routesOf(app: FastifyInstance): readonly RegisteredRoute[] {
  return routesByApp.get(app) ?? [];
}

/** The token a request was made with (after the guard let it through). */
export function principalOf(request: FastifyRequest): ApiTokenRecord | undefined {
  return principals.get(request);
}

/** Adds fields to the request's audit entry (a route's outcome: the layout an apply named). */
export function noteAudit(request: FastifyRequest, fields: Record<string, string>): void {
  notes.set(request, { ...notes.get(request), ...fields });
}

/** Records the code of the error a request failed with (the error handler calls it). */
export function noteError(request: FastifyRequest, code: string): void {
  errorCodes.set(request, code);
}

const HOW =
  'send "Authorization: Bearer <token>" (the hive CLI takes it from its context, --token-file or HIVE_TOKEN)';

/** Installs the three hooks; call before any route is registered. */
export function installApiGuard(app: FastifyInstance, o: ApiGuardOptions): void {
  const routes: RegisteredRoute[] = [];
  routesByApp.set(app, routes);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) {
      if (ruleOf(method, route.url) === undefined) {
        throw new HiveError(
          ErrorCode.Internal,
          `route ${method} ${route.url} declares no role: add it to src/orchestrator/http/route-roles.ts`,
        );
      }
      routes.push({ method, url: route.url });
    }
  });

  app.addHook("onRequest", async (request, reply) => {
    const url = request.routeOptions.url;
    if (url === undefined) return; // no such route: the 404 handler answers
    const rule = ruleOf(request.method, url);
    if (rule === undefined || rule.role === "public") return;
    const need = rule.role;
    const header = request.headers.authorization;
    if (header === undefined || header === "") {
      reply.header("www-authenticate", 'Bearer realm="hive"');
      throw new HiveError(
        ErrorCode.Unauthenticated,
        `${request.method} ${url} needs a token (role ${need}): ${HOW}`,
      );
    }
    const record = await verify(o, header);
    if (typeof record === "string") {
      reply.header("www-authenticate", 'Bearer realm="hive", error="invalid_token"');
      throw new HiveError(ErrorCode.Unauthenticated, `${record}: ${HOW} with a valid token`);
    }
    principals.set(request, record);
    if (!roleAllows(record.role, need)) {
      reply.header("www-authenticate", 'Bearer realm="hive", error="insufficient_scope"');
      throw new HiveError(
        ErrorCode.PermissionDenied,
        `${request.method} ${url} needs role ${need}; token ${record.id} (${record.name}) has role ${record.role}`,
      );
    }
  });

  app.addHook("onSend", async (request, reply, payload) => {
    const url = request.routeOptions.url;
    if (url === undefined || !isChange(request.method)) return payload;
    const entry = auditEntry(request, url, reply.statusCode, o.now());
    const keep = entry.tokenId === undefined ? o.auditKeep.anonymous : o.auditKeep.known;
    try {
      await o.store.appendAudit(entry, keep);
    } catch (err) {
      // The change (if any) is done: answering an error would say it was not. Loud instead.
      o.log?.error(
        { err: HiveError.from(err).message, method: entry.method, route: entry.route, status: entry.status },
        "audit trail: writing an entry failed",
      );
    }
    return payload;
  });
}

/** The token of an Authorization header, or why it is refused (never saying which part was wrong). */
async function verify(o: ApiGuardOptions, header: string): Promise<ApiTokenRecord | string> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const parts = match?.[1] === undefined ? undefined : parseToken(match[1]);
  if (parts === undefined) return 'the Authorization header is not "Bearer hive_<id>_<secret>"';
  const record = await o.store.getToken(parts.id);
  if (record === undefined || !secretMatches(record, parts.secret)) return "the token is not known";
  // Only the holder of the secret learns the token is revoked or expired.
  const unusable = tokenUnusable(record, o.now());
  if (unusable !== undefined) return `token ${record.id} (${record.name}) is ${unusable}`;
  return record;
}

function auditEntry(request: FastifyRequest, url: string, status: number, now: Date): AuditInput {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries((request.params ?? {}) as Record<string, unknown>)) {
    params[key] = String(value);
  }
  const body = request.body;
  if (typeof body === "object" && body !== null) {
    for (const field of ruleOf(request.method, url)?.audit ?? []) {
      const value = (body as Record<string, unknown>)[field];
      if (value !== undefined) params[field] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  Object.assign(params, notes.get(request));
  const who = principals.get(request);
  const errorCode = errorCodes.get(request);
  return {
    at: now.toISOString(),
    ...(who ? { tokenId: who.id, tokenName: who.name, role: who.role } : {}),
    remote: request.ip,
    method: request.method,
    route: url,
    params,
    status,
    ...(errorCode !== undefined ? { errorCode } : {}),
  };
}
