/**
 * The orchestrator's HTTP API: the only way in for the `hive` CLI and any dashboard. A thin shell
 * over the ControlPlane: each route checks its input, calls one operation and answers JSON (or,
 * for logs, streams text). Errors are HiveErrors answered as `{ error: { code, message, issues? } }`
 * with the status of their code (see error-body.ts).
 *
 * Every route needs a bearer token of the role route-roles.ts declares for it, and every call that
 * changes something is written to the audit trail (api-guard.ts); requests whose Host is not a
 * name this orchestrator answers to are refused first (host-check.ts). With `tls`, it serves HTTPS.
 */
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Logger } from "../../core/logger.ts";
import type { ControlPlane } from "../control-plane.ts";
import {
  DEFAULT_AUDIT_KEEP,
  installApiGuard,
  noteError,
  type ApiSecurityStore,
  type AuditKeep,
} from "./api-guard.ts";
import { registerAuditRoute } from "./audit-route.ts";
import { registerTokenRoutes } from "./token-routes.ts";
import { registerClusterRoutes } from "./cluster-routes.ts";
import { registerDeploymentRoutes } from "./deployment-routes.ts";
import { httpStatusOf, toErrorBody } from "./error-body.ts";
import { compileAllowedHosts, hostAllowed } from "./host-check.ts";
import { registerLayoutRoutes } from "./layout-routes.ts";
import { registerLogRoute } from "./log-route.ts";
import { registerTradingRoutes } from "./trading-routes.ts";

/** Where `/metrics` gets its text: a prom-client Registry fits as it is. */
export interface MetricsSource {
  readonly contentType: string;
  render(): Promise<string>;
}

/** Options of {@link createHttpApi}. */
export interface HttpApiOptions {
  readonly control: ControlPlane;
  /** Serves `GET /metrics`; without it, `/metrics` is a 404. */
  readonly metrics?: MetricsSource;
  /** Requests and server errors are logged here; nothing is logged without it. */
  readonly log?: Logger;
  /** Largest request body accepted, in bytes (a layout's YAML); default 4 MiB. */
  readonly bodyLimit?: number;
  /**
   * Host names the API answers to besides `localhost` and IP addresses (host-check.ts); a request
   * whose `Host` names anything else is refused (403), as a DNS-rebinding page's would be.
   */
  readonly allowedHosts?: readonly string[];
  /** Where API tokens are looked up and the audit trail is written (the orchestrator's store). */
  readonly store: ApiSecurityStore;
  /** How many audit entries to keep per class (default {@link DEFAULT_AUDIT_KEEP}). */
  readonly auditKeep?: AuditKeep;
  /** The clock of token expiry and audit times (tests). */
  readonly now?: () => Date;
  /** Serve HTTPS with this certificate (chain) and key, PEM (http-tls.ts reads and checks the files). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
}

/** Builds the API on a fastify instance, not listening: the daemon calls `listen`, tests `inject`. */
export function createHttpApi(options: HttpApiOptions): FastifyInstance {
  const app = Fastify({
    ...(options.log === undefined ? { logger: false } : { loggerInstance: options.log }),
    logController: new RequestLog(),
    // A `hive logs -f` never ends by itself: on close every connection goes, busy or not (the log
    // route first ends its streams cleanly, in a preClose hook).
    forceCloseConnections: true,
    bodyLimit: options.bodyLimit ?? 4 * 1024 * 1024,
    // A URL the router cannot read (bad percent-encoding) or a path parameter over its limit
    // (100 characters) is refused before any hook runs: with the API's error body, as any refusal.
    frameworkErrors: (err, _request, reply) => {
      const tooLong = err.code === "FST_ERR_MAX_PARAM_LENGTH";
      const message = tooLong
        ? "a path parameter is longer than 100 characters"
        : "the URL is not valid (a path parameter is not percent-encoded UTF-8)";
      void (reply as unknown as FastifyReply)
        .code(tooLong ? 414 : 400)
        .send(toErrorBody(new HiveError(ErrorCode.InvalidArgument, message)));
    },
    ...(options.tls === undefined ? {} : { https: { cert: options.tls.cert, key: options.tls.key } }),
  }) as unknown as FastifyInstance;
  // Bodies are JSON only: without fastify's default text parser a text/plain body is a 415, as
  // docs/http-api.md says, not a 400 about a string that is not an object.
  app.removeContentTypeParser("text/plain");

  const allowedHosts = compileAllowedHosts(options.allowedHosts);
  app.addHook("onRequest", (request, _reply, done) => {
    const host = request.headers.host;
    if (hostAllowed(host, allowedHosts)) return done();
    done(
      new HiveError(
        ErrorCode.PermissionDenied,
        `host ${JSON.stringify(host)} is not a name this orchestrator answers to (localhost, an IP ` +
          `address, or a name given with --allowed-host)`,
      ),
    );
  });

  const now = options.now ?? (() => new Date());
  // After the Host check: a rebinding page's request is refused before its token is looked at.
  installApiGuard(app, {
    store: options.store,
    now,
    auditKeep: options.auditKeep ?? DEFAULT_AUDIT_KEEP,
    ...(options.log === undefined ? {} : { log: options.log }),
  });

  app.setErrorHandler((err: FastifyError | HiveError, request, reply) => {
    const e = toHiveError(err);
    noteError(request, e.code);
    const status = err instanceof HiveError ? httpStatusOf(err.code) : statusOfFastifyError(err);
    if (status >= 500) request.log.error({ err, code: e.code }, "http request failed");
    return reply.code(status).send(toErrorBody(e));
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(toErrorBody(new HiveError(ErrorCode.NotFound, `no route ${request.method} ${request.url}`))),
  );

  app.get("/healthz", () => ({ ok: true }));
  app.get("/metrics", async (_request, reply) => {
    if (options.metrics === undefined) {
      throw new HiveError(ErrorCode.NotFound, "this orchestrator serves no metrics");
    }
    const text = await options.metrics.render();
    return reply.type(options.metrics.contentType).send(text);
  });

  registerLayoutRoutes(app, options.control);
  registerClusterRoutes(app, options.control);
  registerDeploymentRoutes(app, options.control);
  registerLogRoute(app, options.control);
  registerTradingRoutes(app, options.control);
  registerTokenRoutes(app, options.store, now);
  registerAuditRoute(app, options.store);
  return app;
}

/** One line per request, when it is done: reads at debug (the CLI polls), changes at info. */
class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const fields = {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    };
    if (error) reply.log.error({ ...fields, err: error }, "http request errored");
    else if (request.method === "GET" || request.method === "HEAD") reply.log.debug(fields, "http request");
    else reply.log.info(fields, "http request");
  }
}

/** A HiveError as it is; fastify's own client errors (bad JSON, 415, 413) as invalid_argument. */
function toHiveError(err: FastifyError | HiveError): HiveError {
  if (err instanceof HiveError) return err;
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = status === 404 ? ErrorCode.NotFound : ErrorCode.InvalidArgument;
    return new HiveError(code, err.message, { cause: err });
  }
  return HiveError.from(err);
}

/** Fastify's client errors keep their own status (413, 415...); anything else is a 500. */
function statusOfFastifyError(err: FastifyError): number {
  const status = err.statusCode ?? 500;
  return status >= 400 && status < 500 ? status : 500;
}
