/**
 * The CLI's client of the orchestrator's HTTP API: the ControlPlane, over fetch. Whatever goes
 * wrong comes back as one HiveError with one clear line: an orchestrator that cannot be reached
 * is `unavailable` and says how to start one; an error answer keeps the server's code and message
 * (and a ValidationError its issues, so the CLI prints `file:line: field` lines).
 *
 * Every request carries the bearer token it was given (the context's, see cli-config.ts); over
 * https, the server's certificate is verified against the context's CA when one is given.
 */
import type { IncomingMessage } from "node:http";
import type {
  ApplyResult,
  ControlPlane,
  DatasetView,
  DeploymentView,
  LayoutView,
  LogOptions,
  NodeView,
  FailoverView,
  GatewayAccountView,
  GatewayReassignView,
  KillResult,
  ServiceExplanation,
} from "../orchestrator/control-plane.ts";
import { fromErrorBody } from "../orchestrator/http/error-body.ts";
import type { AuditPage, CreatedToken, RevokedToken, TokenView } from "../orchestrator/http/index.ts";
import type { ApiRole } from "../orchestrator/store/auth-records.ts";
import { readText, send } from "./http-transport.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";

/** Where the orchestrator listens when neither `--orchestrator` nor HIVE_ORCHESTRATOR says. */
export const DEFAULT_ORCHESTRATOR_URL = "http://127.0.0.1:7071";

/** How long a request (not a log stream) may take before the orchestrator counts as unreachable. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The orchestrator's base URL: the flag, else HIVE_ORCHESTRATOR, else `fallback` (a context's
 * server), else the default. A malformed one is an invalid_argument naming where it came from.
 */
export function resolveOrchestratorUrl(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  fallback?: { readonly url: string; readonly from: string },
): string {
  const [text, from] =
    flag !== undefined
      ? [flag, "--orchestrator"]
      : env.HIVE_ORCHESTRATOR
        ? [env.HIVE_ORCHESTRATOR, "HIVE_ORCHESTRATOR"]
        : fallback !== undefined
          ? [fallback.url, fallback.from]
          : [DEFAULT_ORCHESTRATOR_URL, "the default"];
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL("invalid:"); // refused just below, with the text and where it came from
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${from}: found "${text}", expected an http:// or https:// URL such as ${DEFAULT_ORCHESTRATOR_URL}`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

/** How an ApiClient proves who it is and whom it trusts. */
export interface ApiCredentials {
  /** The bearer token (`hive_<id>_<secret>`); without one, only /healthz answers. */
  readonly token?: string;
  /** CA certificates (PEM) that may vouch for an https orchestrator; without: the system's. */
  readonly ca?: Buffer;
}

/** The ControlPlane of a remote orchestrator. */
export class ApiClient implements ControlPlane {
  /** `baseUrl` as {@link resolveOrchestratorUrl} gives it: no trailing slash. */
  constructor(
    readonly baseUrl: string,
    private readonly credentials: ApiCredentials = {},
  ) {}

  applyLayout(source: string, fileName: string): Promise<ApplyResult> {
    return this.json("POST", "/v1/layouts", { source, file: fileName });
  }

  listLayouts(): Promise<LayoutView[]> {
    return this.json("GET", "/v1/layouts");
  }

  getLayout(name: string): Promise<LayoutView> {
    return this.json("GET", `/v1/layouts/${encodeURIComponent(name)}`);
  }

  async stopLayout(name: string): Promise<void> {
    await this.json("DELETE", `/v1/layouts/${encodeURIComponent(name)}`);
  }

  listNodes(): Promise<NodeView[]> {
    return this.json("GET", "/v1/nodes");
  }

  listDeployments(filter: { layout?: string; nodeId?: string } = {}): Promise<DeploymentView[]> {
    return this.json("GET", `/v1/deployments${query({ layout: filter.layout, node: filter.nodeId })}`);
  }

  explain(layout: string, service: string): Promise<ServiceExplanation> {
    return this.json("GET", `/v1/explain${query({ layout, service })}`);
  }

  drain(nodeId: string, draining: boolean): Promise<NodeView> {
    return this.json("POST", `/v1/nodes/${encodeURIComponent(nodeId)}/drain`, { draining });
  }

  listDatasets(): Promise<DatasetView[]> {
    return this.json("GET", "/v1/datasets");
  }

  failover(layout: string, service: string): Promise<FailoverView> {
    return this.json("POST", "/v1/failover", { layout, service });
  }

  kill(account: string, reason: string, options: { force?: boolean } = {}): Promise<KillResult[]> {
    return this.json("POST", `/v1/accounts/${encodeURIComponent(account)}/kill`, {
      reason,
      ...(options.force ? { force: true } : {}),
    });
  }

  async unkill(account: string): Promise<void> {
    await this.json("DELETE", `/v1/accounts/${encodeURIComponent(account)}/kill`);
  }

  accounts(account?: string): Promise<GatewayAccountView[]> {
    return this.json("GET", `/v1/accounts${account === undefined ? "" : query({ account })}`);
  }

  /** `by` is set by the orchestrator from the caller's token; what is sent here is ignored. */
  reassignGateway(gateway: string, from: string, by = ""): Promise<GatewayReassignView> {
    void by;
    return this.json("POST", `/v1/gateways/${encodeURIComponent(gateway)}/reassign`, { from });
  }

  /** The token this client sends, as the orchestrator sees it. */
  whoami(): Promise<TokenView> {
    return this.json("GET", "/v1/whoami");
  }

  /** Every API token (no secrets). */
  listTokens(): Promise<TokenView[]> {
    return this.json("GET", "/v1/tokens");
  }

  /** Makes a token; the answer carries it, once. */
  createToken(name: string, role: ApiRole, expiresAt?: string): Promise<CreatedToken> {
    return this.json("POST", "/v1/tokens", { name, role, ...(expiresAt === undefined ? {} : { expiresAt }) });
  }

  /** Revokes a token by id or name. */
  revokeToken(idOrName: string): Promise<RevokedToken> {
    return this.json("DELETE", `/v1/tokens/${encodeURIComponent(idOrName)}`);
  }

  /** A page of the audit trail. */
  audit(q: { since?: string; after?: number; limit?: number } = {}): Promise<AuditPage> {
    return this.json(
      "GET",
      `/v1/audit${query({
        since: q.since,
        after: q.after === undefined ? undefined : String(q.after),
        limit: q.limit === undefined ? undefined : String(q.limit),
      })}`,
    );
  }

  /** Streams a deployment's output; aborting `options.signal` ends the iteration quietly. */
  async *logs(deploymentId: string, options: LogOptions): AsyncIterable<Uint8Array> {
    const path = `/v1/deployments/${encodeURIComponent(deploymentId)}/logs${query({
      stream: options.stream,
      follow: String(options.follow),
      tail: options.tailBytes === undefined ? undefined : String(options.tailBytes),
    })}`;
    let res: IncomingMessage;
    try {
      res = await this.request("GET", path, undefined, options.signal);
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    }
    let ended = false;
    try {
      for await (const chunk of res) yield chunk as Uint8Array;
      ended = true;
    } catch (err) {
      ended = true;
      if (options.signal?.aborted) return;
      throw new HiveError(
        ErrorCode.Unavailable,
        `the log stream from the orchestrator at ${this.baseUrl} broke off (${describeCause(err)})`,
        { cause: err },
      );
    } finally {
      // A consumer that stops early: destroying the response closes the connection, ending the read.
      if (!ended) res.destroy();
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const res = await this.request(method, path, body, timeout);
    let text: string;
    try {
      text = await readText(res);
    } catch (err) {
      throw unreachable(this.baseUrl, err, timeout);
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new HiveError(
        ErrorCode.Internal,
        `the orchestrator at ${this.baseUrl} answered ${method} ${path} with something that is not JSON`,
        { cause: err },
      );
    }
  }

  /** Sends one request; a failed connection or an error status becomes a HiveError. */
  private async request(
    method: string,
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    let res: IncomingMessage;
    try {
      res = await send(new URL(`${this.baseUrl}${path}`), {
        method,
        headers: {
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...(this.credentials.token === undefined
            ? {}
            : { authorization: `Bearer ${this.credentials.token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
        ...(this.credentials.ca === undefined ? {} : { ca: this.credentials.ca }),
      });
    } catch (err) {
      // A caller's own abort (Ctrl-C on `hive logs`) is not the orchestrator's fault.
      if (signal?.aborted && (signal.reason as Error | undefined)?.name !== "TimeoutError") throw err;
      throw untrusted(this.baseUrl, err) ?? unreachable(this.baseUrl, err, signal);
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const text = await readText(res).catch(() => "");
      const error = fromErrorBody(status, text);
      if (status === 401 && this.credentials.token === undefined) {
        throw new HiveError(
          error.code,
          `${error.message}\n(this hive sent no token to ${this.baseUrl}: give one in a context of ~/.config/hive/config, with --token-file or HIVE_TOKEN; hive dev writes a "dev" context)`,
        );
      }
      throw error;
    }
    return res;
  }
}

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_SIGNATURE_FAILURE",
]);

/** The one line for a server whose certificate is not trusted; undefined for other failures. */
function untrusted(baseUrl: string, err: unknown): HiveError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined || !TLS_CODES.has(code)) return undefined;
  return new HiveError(
    ErrorCode.FailedPrecondition,
    `the orchestrator at ${baseUrl} presented a certificate this hive does not trust (${code}): give the CA that ` +
      "signed it as ca-file in the context, --ca-file or HIVE_CA_FILE",
    { cause: err },
  );
}

/** The one line for an orchestrator that cannot be reached, saying how to start one. */
function unreachable(baseUrl: string, err: unknown, signal?: AbortSignal): HiveError {
  const timedOut = (signal?.reason as Error | undefined)?.name === "TimeoutError";
  return new HiveError(
    ErrorCode.Unavailable,
    `cannot reach the orchestrator at ${baseUrl} (${timedOut ? "no answer in time" : describeCause(err)}): is it running? (hive dev, or hive orchestrator)`,
    { cause: err },
  );
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, value);
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "timed out",
  UND_ERR_CONNECT_TIMEOUT: "timed out",
  UND_ERR_SOCKET: "connection closed",
};

/** Words for why fetch failed, from the error codes undici buries in `cause`. */
function describeCause(err: unknown): string {
  if (err instanceof Error && err.name === "TimeoutError") return "no answer in time";
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; depth++) {
    const code = (e as NodeJS.ErrnoException).code ?? firstCode(e);
    if (code !== undefined) return REASONS[code] ?? code;
    e = e.cause;
  }
  return err instanceof Error ? err.message : String(err);
}

function firstCode(e: Error): string | undefined {
  if (!(e instanceof AggregateError)) return undefined;
  const inner: unknown = e.errors[0];
  return inner instanceof Error ? (inner as NodeJS.ErrnoException).code : undefined;
}
