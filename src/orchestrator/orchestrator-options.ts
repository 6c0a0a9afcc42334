import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { GatewayEndpoint } from "./gateways.ts";
import type { TlsFiles } from "../security/pki/index.ts";
import type { LeaseOptions } from "./registry.ts";
import { isLoopbackHost } from "./runner-grpc-server.ts";

/** The orchestrator daemon's options as given (flags); every field has a default. */
export interface OrchestratorOptions {
  /** `sqlite:/path/file.db` (the default, embedded) or `memory:` (tests). */
  readonly store?: string;
  /** Where runners connect (the runner protocol: mutual TLS, or cleartext on loopback only). */
  readonly runnerListen?: { host: string; port: number };
  /**
   * The orchestrator's certificate and key for the runner link, and the cluster CA runners'
   * certificates must chain to: with them the link is mutual TLS and a node's id is its
   * certificate's. Without them runners connect in cleartext, on a loopback address only.
   */
  readonly tls?: TlsFiles;
  /**
   * A cluster CA directory (`hive ca init`) whose key signs the certificates of runners that
   * bootstrap with a one-time join token of its `join-tokens/`. None: no bootstrap.
   */
  readonly caDir?: string;
  /** Where the CLI and dashboards connect (the HTTP API and /metrics). */
  readonly httpListen?: { host: string; port: number };
  /**
   * A file (mode 0600) holding the token every runner must present in its Register, on a
   * cleartext link (loopback); over TLS a runner's certificate proves it instead.
   */
  readonly joinTokenFile?: string;
  readonly heartbeatIntervalMs?: number;
  /** How long a runner's lease lasts without an acknowledged heartbeat (its self-fence clock). */
  readonly runnerLeaseMs?: number;
  /** Silence after which the orchestrator calls a node down and reschedules its work. */
  readonly downAfterMs?: number;
  readonly seed?: number;
  readonly stopGraceMs?: number;
  /** The broker gateways live strategies trade through. */
  readonly gateways?: readonly GatewayEndpoint[];
  /** The orchestrator's CURVE key pair for the gateways' control channels (created if missing). */
  readonly curveKeyFile?: string;
  /** After a restart, how long a node may take to come back before it is lost (default 6 s). */
  readonly restartGraceMs?: number;
  /** How long one reconcile pass may spend placing pending work; the rest waits for the next (default 20). */
  readonly placeBudgetMs?: number;
}

/**
 * The default timings, chosen for a failover well under 1.5 s: a runner heartbeats every 150 ms;
 * its lease lapses 400 ms after the last acknowledged heartbeat was sent (it then closes its order
 * paths, and kills its live processes one lease later); the orchestrator calls it down after
 * 1,000 ms of silence (more than twice the lease, the margin rule) and fails over at once.
 */
export const DEFAULT_TIMINGS = { heartbeatIntervalMs: 150, runnerLeaseMs: 400, downAfterMs: 1_000 } as const;

/** Options with defaults filled and checked. */
export interface CompiledOrchestratorOptions {
  readonly store: string;
  readonly runnerListen: { host: string; port: number };
  readonly httpListen: { host: string; port: number };
  readonly tls: TlsFiles | undefined;
  readonly caDir: string | undefined;
  readonly joinTokenFile: string | undefined;
  readonly lease: LeaseOptions;
  readonly runnerLeaseMs: number;
  readonly seed: number;
  readonly stopGraceMs: number;
  readonly gateways: readonly GatewayEndpoint[];
  readonly curveKeyFile: string;
  readonly restartGraceMs: number;
  readonly placeBudgetMs: number;
}

/**
 * Fills defaults and checks the lease margin rule: the orchestrator calls a node down only well
 * after the node's runner has given up on its own lease (Pacemaker waits twice its watchdog's
 * timeout), so that a partitioned runner has stopped trading before its work is started elsewhere.
 */
export function compileOrchestratorOptions(o: OrchestratorOptions = {}): CompiledOrchestratorOptions {
  const heartbeatIntervalMs = o.heartbeatIntervalMs ?? DEFAULT_TIMINGS.heartbeatIntervalMs;
  const runnerLeaseMs = o.runnerLeaseMs ?? DEFAULT_TIMINGS.runnerLeaseMs;
  const downAfterMs = o.downAfterMs ?? 2 * runnerLeaseMs;
  const timings = { heartbeatIntervalMs, runnerLeaseMs, downAfterMs, restartGraceMs: o.restartGraceMs ?? 1 };
  for (const [what, ms] of Object.entries(timings)) {
    // NaN passes every `<` check below: a mistyped flag would turn node failure detection off.
    if (!Number.isInteger(ms) || ms <= 0) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `${what}: found ${ms}, expected a whole number of ms > 0`,
      );
    }
  }
  if (runnerLeaseMs < 2 * heartbeatIntervalMs) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `runner lease ${runnerLeaseMs} ms: expected at least two heartbeat intervals (${2 * heartbeatIntervalMs} ms)`,
    );
  }
  if (downAfterMs < 2 * runnerLeaseMs) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `down-after ${downAfterMs} ms: expected at least twice the runner lease (${2 * runnerLeaseMs} ms), so a ` +
        "cut-off runner has fenced itself before its work is started elsewhere",
    );
  }
  const runnerListen = o.runnerListen ?? { host: "127.0.0.1", port: 7070 };
  if (o.tls === undefined && !isLoopbackHost(runnerListen.host)) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `--runner-listen ${runnerListen.host}:${runnerListen.port}: not a loopback address, and runners ` +
        "connect in cleartext only on loopback; give --tls-cert, --tls-key and --tls-ca (see docs/runner-identity.md)",
    );
  }
  if (o.caDir !== undefined && o.tls === undefined) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      "--ca-dir: runners bootstrap over TLS only; give the orchestrator its certificate too (--tls-cert, --tls-key)",
    );
  }
  return {
    store: o.store ?? "sqlite:.hive/orchestrator.db",
    runnerListen,
    httpListen: o.httpListen ?? { host: "127.0.0.1", port: 7071 },
    tls: o.tls,
    caDir: o.caDir,
    joinTokenFile: o.joinTokenFile,
    lease: {
      heartbeatIntervalMs,
      suspectAfterMs: Math.max(3 * heartbeatIntervalMs, runnerLeaseMs / 2),
      downAfterMs,
    },
    runnerLeaseMs,
    seed: o.seed ?? 1,
    stopGraceMs: o.stopGraceMs ?? 5_000,
    gateways: o.gateways ?? [],
    curveKeyFile: o.curveKeyFile ?? ".hive/orchestrator.key",
    // Runners reconnect with a backoff of up to 5 s (DEFAULT_LINK_BACKOFF): give them that and more.
    restartGraceMs: o.restartGraceMs ?? Math.max(downAfterMs, 6_000),
    placeBudgetMs: o.placeBudgetMs ?? 20,
  };
}
