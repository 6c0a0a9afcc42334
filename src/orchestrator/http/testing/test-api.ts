/**
 * The HTTP API for tests: built on a memory store (or one given) that holds a token of each
 * role, with `inject` calling it as the admin, so tests of what a route does need not repeat the
 * header; tests of who may call it use `as(role)` or the tokens themselves.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { MemoryStore } from "../../store/memory-store.ts";
import { API_ROLES, type ApiRole } from "../../store/auth-records.ts";
import type { ApiSecurityStore } from "../api-guard.ts";
import { mintToken } from "../api-tokens.ts";
import { createHttpApi, type HttpApiOptions } from "../create-http-api.ts";

/** Creates a token of `role` in `store`; returns the token's text. */
export async function addToken(
  store: ApiSecurityStore,
  role: ApiRole,
  name: string = `test-${role}`,
  expiresAt?: string,
): Promise<string> {
  const { token, record } = mintToken(name, role, new Date(), expiresAt);
  await store.putToken(record);
  return token;
}

/** An `inject` that sends `token` (none when undefined). */
export function injectAs(app: FastifyInstance, token: string | undefined) {
  return (opts: string | InjectOptions): Promise<LightMyRequestResponse> => {
    const o: InjectOptions = typeof opts === "string" ? { url: opts } : opts;
    const headers = { ...o.headers, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) };
    return app.inject({ ...o, headers });
  };
}

/** The API and its tokens, one of each role. */
export interface TestApi {
  readonly app: FastifyInstance;
  readonly store: ApiSecurityStore;
  /** The token of each role (filled once `ready` resolves). */
  readonly tokens: Readonly<Record<ApiRole, string>>;
  /** Resolves once the tokens are in the store. */
  readonly ready: Promise<void>;
  /** Calls the API as the admin. */
  inject(opts: string | InjectOptions): Promise<LightMyRequestResponse>;
  /** Calls the API with a token of `role`. */
  as(role: ApiRole): (opts: string | InjectOptions) => Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** Builds the API (not listening) with a token of each role. */
export function testApi(options: Omit<HttpApiOptions, "store"> & { store?: ApiSecurityStore }): TestApi {
  const store = options.store ?? new MemoryStore();
  const tokens = {} as Record<ApiRole, string>;
  const ready = (async () => {
    for (const role of API_ROLES) tokens[role] = await addToken(store, role);
  })();
  const app = createHttpApi({ ...options, store });
  const as = (role: ApiRole) => async (opts: string | InjectOptions) => {
    await ready;
    return injectAs(app, tokens[role])(opts);
  };
  return {
    app,
    store,
    tokens,
    ready,
    inject: as("admin"),
    as,
    close: async () => {
      await app.close();
    },
  };
}
