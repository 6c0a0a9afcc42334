/**
 * Routes of API tokens: who am I, list, create (the token is in the answer, once), revoke. The
 * answers never carry a secret's hash; only `POST /v1/tokens` carries a token, and the audit
 * trail records its name and role, not the answer.
 */
import type { FastifyInstance } from "fastify";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { ApiRole, ApiTokenRecord } from "../store/auth-records.ts";
import { principalOf, type ApiSecurityStore } from "./api-guard.ts";
import { mintToken, tokenUnusable } from "./api-tokens.ts";
import { parseInput, tokenBody, tokenParams } from "./request-input.ts";

/** A token as listed: no secret, no hash, and whether it is usable now. */
export interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly role: ApiRole;
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly revokedAt?: string;
  readonly state: "active" | "expired" | "revoked";
}

/** What `POST /v1/tokens` answers: the token's view and, once, the token itself. */
export interface CreatedToken extends TokenView {
  readonly token: string;
}

/** What `DELETE /v1/tokens/:token` answers. */
export interface RevokedToken {
  readonly id: string;
  readonly name: string;
  readonly revoked: true;
}

/** A token record as shown. */
export function tokenView(rec: ApiTokenRecord, now: Date): TokenView {
  return {
    id: rec.id,
    name: rec.name,
    role: rec.role,
    createdAt: rec.createdAt,
    ...(rec.expiresAt !== undefined ? { expiresAt: rec.expiresAt } : {}),
    ...(rec.revokedAt !== undefined ? { revokedAt: rec.revokedAt } : {}),
    state: tokenUnusable(rec, now) ?? "active",
  };
}

/** Registers `GET /v1/whoami`, `GET|POST /v1/tokens` and `DELETE /v1/tokens/:token` (an id or a name). */
export function registerTokenRoutes(app: FastifyInstance, store: ApiSecurityStore, now: () => Date): void {
  app.get("/v1/whoami", (request, reply) => {
    const me = principalOf(request);
    if (me === undefined) throw new HiveError(ErrorCode.Unauthenticated, "no token");
    return reply.send(tokenView(me, now()));
  });

  app.get("/v1/tokens", async (): Promise<TokenView[]> => {
    const at = now();
    return (await store.listTokens()).map((t) => tokenView(t, at));
  });

  app.post("/v1/tokens", async (request, reply): Promise<CreatedToken> => {
    const { name, role, expiresAt } = parseInput(tokenBody, request.body, "body");
    const at = now();
    if (expiresAt !== undefined && Date.parse(expiresAt) <= at.getTime()) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `body.expiresAt: found ${expiresAt}, expected a time in the future (it is ${at.toISOString()})`,
      );
    }
    const expiry = expiresAt === undefined ? undefined : new Date(expiresAt).toISOString();
    const { token, record } = mintToken(name, role, at, expiry);
    await store.putToken(record);
    reply.code(201).header("cache-control", "no-store");
    return { ...tokenView(record, at), token };
  });

  app.delete("/v1/tokens/:token", async (request): Promise<RevokedToken> => {
    const { token: which } = parseInput(tokenParams, request.params, "path");
    const tokens = await store.listTokens();
    const target =
      tokens.find((t) => t.id === which) ?? tokens.find((t) => t.name === which && t.revokedAt === undefined);
    if (target === undefined || !(await store.revokeToken(target.id, now().toISOString()))) {
      throw new HiveError(
        ErrorCode.NotFound,
        `no token ${JSON.stringify(which)} that is not revoked (an id or a name)`,
      );
    }
    return { id: target.id, name: target.name, revoked: true };
  });
}
