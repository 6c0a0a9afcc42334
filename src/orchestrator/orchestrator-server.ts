import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { Gateways, type ConnectGateway } from "./gateways.ts";
import { LOCAL_RUNNER_URL, LocalRuntime, type LocalRuntimeOptions } from "./local-runtime.ts";
import { Orchestrator } from "./orchestrator.ts";
import type { CompiledOrchestratorOptions } from "./orchestrator-options.ts";
import { readSecretFile } from "../core/secret-file.ts";
import { JoinTokens, loadClusterCa, readTlsFiles } from "../security/pki/index.ts";
import { runnerBootstrap } from "./runner-bootstrap.ts";
import { serveRunnerStreams } from "./runner-grpc-server.ts";
import type { RunnerStreamHandler } from "./runner-service.ts";
import { openStore, type Store } from "./store/index.ts";

/** Something that serves HTTP on an address and can be closed (the HTTP API). */
export interface HttpServer {
  listen(options: { host: string; port: number }): Promise<string>;
  close(): Promise<unknown>;
}

/** A running orchestrator daemon. */
export interface RunningOrchestrator {
  readonly core: Orchestrator;
  /** The in-process runtime, when started with `local` (no runner protocol on the network). */
  readonly local: LocalRuntime | undefined;
  /** Where runners connect: http://host:port (with `local`, the in-process runner's URL). */
  readonly runnerUrl: string;
  /** Where the HTTP API listens, if it was started. */
  readonly httpUrl: string | undefined;
  /** The cluster id of its store: the controller its gateways know it as. */
  readonly clusterId: string;
  close(): Promise<void>;
}

/**
 * Starts the orchestrator: opens the store and loads the desired state, serves the runner
 * protocol (mutual TLS, or cleartext on loopback) and, if given, the HTTP API, and runs the reconcile loop at half
 * the heartbeat interval (and on every event). `close` stops all of it; runners and their
 * processes keep running and re-register with the next orchestrator.
 *
 * With `local`, services run on this machine through a {@link LocalRuntime} (an in-process
 * runner on an in-memory transport) instead of remote runners: the runner protocol is not
 * served on the network, and `close` stops the local processes too.
 */
export async function startOrchestrator(
  options: CompiledOrchestratorOptions,
  deps: {
    log: Logger;
    /** The HTTP API on the core; its tokens and audit trail live in the same store. */
    httpApi?: (core: Orchestrator, store: Store) => HttpServer;
    /** Opens a gateway's control channel; by default a GatewayClient with the orchestrator's key. */
    connectGateway?: ConnectGateway;
    /** How often the gateways' fences and node sockets are read again (tests; default RELIST_MS). */
    gatewayRelistMs?: number;
    /** Run services on this machine, with an in-process runner of these options. */
    local?: LocalRuntimeOptions;
  },
): Promise<RunningOrchestrator> {
  // What is open so far, closed in reverse if a later step fails (a port in use, say): a daemon
  // that cannot serve must exit, not linger with half its sockets bound.
  const opened: (() => Promise<unknown> | undefined)[] = [];
  const undo = async () => {
    for (const close of opened.reverse()) {
      // The start's own error is the one thrown; a close that fails too is only logged.
      await close()?.catch((err: unknown) =>
        deps.log.warn({ err: HiveError.from(err).message }, "closing after a failed start failed"),
      );
    }
  };
  try {
    const store = await openStore(options.store);
    opened.push(() => store.close());
    // The id the gateways know this control plane by (one controller per gateway).
    const clusterId = await store.clusterId();
    // A node's orders port learnt at a gateway changes routes: a pass pushes them (late binding:
    // the orchestrator is made after its gateways).
    const late: { core?: Orchestrator } = {};
    const gateways =
      options.gateways.length > 0
        ? new Gateways(
            options.gateways,
            deps.connectGateway ?? (await defaultConnectGateway(options.curveKeyFile)),
            deps.log,
            { relistMs: deps.gatewayRelistMs, onRoutes: () => late.core?.kick(), controller: clusterId },
          )
        : undefined;
    opened.push(() => gateways?.close());
    const localOptions = deps.local;
    let local: LocalRuntime | undefined;
    const core = new Orchestrator({
      provider: localOptions && ((registry) => (local = new LocalRuntime(registry, localOptions))),
      gateways,
      store,
      log: deps.log,
      lease: options.lease,
      seed: options.seed,
      stopGraceMs: options.stopGraceMs,
      restartGraceMs: options.restartGraceMs,
      placeBudgetMs: options.placeBudgetMs,
    });
    late.core = core;
    opened.push(() => core.close());
    await core.load();
    await core.restoreDrains();
    // Every secret and certificate is read now, so that a missing file or a key others may read
    // stops the start with its path (and mode), not the first runner's connection.
    const service = {
      joinToken:
        options.joinTokenFile === undefined
          ? ""
          : readSecretFile("join token file", options.joinTokenFile).trim(),
      heartbeatIntervalMs: options.lease.heartbeatIntervalMs,
      leaseTtlMs: options.runnerLeaseMs,
      log: deps.log,
    };
    const tls = options.tls === undefined ? undefined : readTlsFiles(options.tls);
    const handler = local ? core : await runnerHandler(core, options.caDir, deps.log);
    const runners = local
      ? undefined
      : await listening("--runner-listen", options.runnerListen, () =>
          serveRunnerStreams(handler, service, { ...options.runnerListen, tls }),
        );
    opened.push(() => runners?.close());
    // The HTTP port before the local runner: a port in use must fail the start before that runner
    // re-adopts the processes of its state directory (another instance's, still running).
    const http = deps.httpApi?.(core, store);
    opened.push(() => http?.close());
    const httpUrl = http
      ? await listening("--http-listen", options.httpListen, () => http.listen(options.httpListen))
      : undefined;
    if (local) {
      const runtime: LocalRuntime = local;
      // Nothing is left half-open when the local runner cannot start (a bad cgroup parent...);
      // what it re-adopted is left running, as a runner that stops leaves its processes.
      opened.push(() => runtime.close({ stopDeployments: false }));
      await runtime.start(core, service);
    }
    const runnerUrl = runners?.url ?? LOCAL_RUNNER_URL;
    const timer = setInterval(() => core.kick(), Math.max(20, options.lease.heartbeatIntervalMs / 2));
    deps.log.info({ runnerUrl, httpUrl, store: options.store, clusterId }, "orchestrator listening");
    return {
      core,
      local,
      runnerUrl,
      httpUrl,
      clusterId,
      async close() {
        clearInterval(timer);
        await http?.close();
        // The local runner before the core: its stream ends while the core can still take the
        // close; it then stops its processes itself (no orchestrator needed for that).
        await local?.close();
        await runners?.close();
        await core.close();
        await gateways?.close();
        await store.close();
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

/**
 * The core as the runner service's handler, with the bootstrap of runners that hold a join token
 * when the orchestrator has the CA's key (`caDir`).
 */
async function runnerHandler(
  core: Orchestrator,
  caDir: string | undefined,
  log: Logger,
): Promise<RunnerStreamHandler> {
  const handler: RunnerStreamHandler = {
    onRegister: (register, session) => core.onRegister(register, session),
    onMessage: (nodeId, session, message) => core.onMessage(nodeId, session, message),
    onClose: (nodeId, session) => core.onClose(nodeId, session),
  };
  if (caDir === undefined) return handler;
  const ca = await loadClusterCa(caDir);
  const tokens = new JoinTokens(caDir);
  return {
    ...handler,
    bootstrap: runnerBootstrap({
      ca,
      tokens,
      log,
      heldBy: (nodeId, key) => core.registry.admits(nodeId, key),
    }),
  };
}

/** Runs `listen`; an address in use becomes one clear line naming the flag (exit 1, not a bug). */
async function listening<T>(
  flag: string,
  at: { host: string; port: number },
  listen: () => Promise<T>,
): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (!/EADDRINUSE|EADDRNOTAVAIL|EACCES/.test(text)) throw err;
    const why = /EADDRINUSE/.test(text)
      ? "is in use"
      : /EACCES/.test(text)
        ? "is not permitted"
        : "is not available";
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `${flag} ${at.host}:${at.port} ${why} (another orchestrator or hive dev?)`,
      { cause: err },
    );
  }
}

/** Control channels over ZeroMQ with CURVE, as the orchestrator key pair in `keyFile` (made if missing). */
async function defaultConnectGateway(keyFile: string): Promise<ConnectGateway> {
  const { loadOrCreateKeyPair } = await import("../gateway/keys.ts");
  const { GatewayClient } = await import("../gateway/control-client.ts");
  const keys = loadOrCreateKeyPair(keyFile);
  return (config, controller) =>
    new GatewayClient({
      address: config.control,
      controller,
      serverKey: config.publicKey === "" ? undefined : config.publicKey,
      keys: config.publicKey === "" ? undefined : keys,
    });
}
