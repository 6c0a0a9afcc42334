/**
 * The CLI's client of the orchestrator's HTTP API: the ControlPlane, over fetch. Whatever goes
 * wrong comes back as one HiveError with one clear line: an orchestrator that cannot be reached
 * is `unavailable` and says how to start one; an error answer keeps the server's code and message
 * (and a ValidationError its issues, so the CLI prints `file:line: field` lines).
 */
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
  KillResult,
  ServiceExplanation,
} from "../orchestrator/control-plane.ts";
import { fromErrorBody } from "../orchestrator/http/error-body.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";

/** Where the orchestrator listens when neither `--orchestrator` nor HIVE_ORCHESTRATOR says. */
export const DEFAULT_ORCHESTRATOR_URL = "http://127.0.0.1:7071";

/** How long a request (not a log stream) may take before the orchestrator counts as unreachable. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The orchestrator's base URL: the flag, else HIVE_ORCHESTRATOR, else the default. A malformed
 * one is an invalid_argument naming where it came from.
 */
export function resolveOrchestratorUrl(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const [text, from] =
    flag !== undefined
      ? [flag, "--orchestrator"]
      : env.HIVE_ORCHESTRATOR
        ? [env.HIVE_ORCHESTRATOR, "HIVE_ORCHESTRATOR"]
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

/** The ControlPlane of a remote orchestrator. */
export class ApiClient implements ControlPlane {
  /** `baseUrl` as {@link resolveOrchestratorUrl} gives it: no trailing slash. */
  constructor(readonly baseUrl: string) {}

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

  /** Streams a deployment's output; aborting `options.signal` ends the iteration quietly. */
  async *logs(deploymentId: string, options: LogOptions): AsyncIterable<Uint8Array> {
    const path = `/v1/deployments/${encodeURIComponent(deploymentId)}/logs${query({
      stream: options.stream,
      follow: String(options.follow),
      tail: options.tailBytes === undefined ? undefined : String(options.tailBytes),
    })}`;
    let res: Response;
    try {
      res = await this.request("GET", path, undefined, options.signal);
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    }
    if (res.body === null) return;
    const reader = res.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    let ended = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          ended = true;
          return;
        }
        yield value;
      }
    } catch (err) {
      ended = true;
      if (options.signal?.aborted) return;
      throw new HiveError(
        ErrorCode.Unavailable,
        `the log stream from the orchestrator at ${this.baseUrl} broke off (${describeCause(err)})`,
        { cause: err },
      );
    } finally {
      // A consumer that stops early: cancelling the body closes the connection, ending the read.
      // A cancel that fails finds the connection gone already: nothing left to close.
      if (!ended) await reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const res = await this.request(method, path, body, timeout);
    try {
      return (await res.json()) as T;
    } catch (err) {
      if (timeout.aborted) throw unreachable(this.baseUrl, err);
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
  ): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        signal: signal ?? null,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (err) {
      // A caller's own abort (Ctrl-C on `hive logs`) is not the orchestrator's fault.
      if (signal?.aborted && (signal.reason as Error | undefined)?.name !== "TimeoutError") throw err;
      throw unreachable(this.baseUrl, err);
    }
    if (!res.ok) throw fromErrorBody(res.status, await res.text());
    return res;
  }
}

/** The one line for an orchestrator that cannot be reached, saying how to start one. */
function unreachable(baseUrl: string, err: unknown): HiveError {
  return new HiveError(
    ErrorCode.Unavailable,
    `cannot reach the orchestrator at ${baseUrl} (${describeCause(err)}): is it running? (hive dev, or hive orchestrator)`,
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
