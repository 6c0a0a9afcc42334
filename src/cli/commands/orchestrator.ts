import { join } from "node:path";
import type { Command } from "commander";
import { ExitCode } from "../exit-codes.ts";
import { waitForStopSignal } from "../stop-signal.ts";
import { runAsDaemon, type CliIo } from "../io.ts";
import { DEFAULT_TIMINGS } from "../../orchestrator/orchestrator-options.ts";
import { parseGatewayFlag } from "../../orchestrator/gateways.ts";
import { parseMs, UsageError } from "./plan.ts";

/** Parses host:port. */
export function parseListen(flag: string, text: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || !(port >= 0 && port <= 65535))
    throw new UsageError(`${flag}: found "${text}", expected host:port`);
  return { host: match[1] ?? "127.0.0.1", port };
}

/** The runner link's TLS files from the flags: all or none (--tls-ca defaults to the CA directory's). */
function tlsFiles(o: { tlsCert?: string; tlsKey?: string; tlsCa?: string; caDir?: string }) {
  const ca = o.tlsCa ?? (o.caDir === undefined ? undefined : join(o.caDir, "ca.crt"));
  if (o.tlsCert === undefined && o.tlsKey === undefined && o.tlsCa === undefined) return undefined;
  if (o.tlsCert === undefined || o.tlsKey === undefined || ca === undefined) {
    throw new UsageError("--tls-cert, --tls-key and --tls-ca (or --ca-dir) go together");
  }
  return { cert: o.tlsCert, key: o.tlsKey, ca };
}

/** The in-process runner of `--local`: a runner YAML, whose `orchestrators` may be left out. */
async function localRuntimeOptions(file: string) {
  const { readRunnerConfig } = await import("../../runner/runner-options.ts");
  const { LOCAL_RUNNER_URL } = await import("../../orchestrator/local-runtime.ts");
  return { runner: readRunnerConfig(file, { orchestrators: [LOCAL_RUNNER_URL] }) };
}

/** `hive orchestrator`: the control plane daemon (runner protocol, HTTP API, reconcile loop). */
export function registerOrchestrator(program: Command, io: CliIo): void {
  program
    .command("orchestrator")
    .description("run the orchestrator: registry, scheduler, supervisor, store, HTTP API")
    .option(
      "--store <url>",
      "sqlite:<file> (embedded, the default) or memory:",
      "sqlite:.hive/orchestrator.db",
    )
    .option("--runner-listen <host:port>", "where runners connect (runner protocol)", "127.0.0.1:7070")
    .option(
      "--http-listen <host:port>",
      "where the CLI and dashboards connect (HTTP API, /metrics)",
      "127.0.0.1:7071",
    )
    .option(
      "--allowed-host <name>",
      "a host name the HTTP API answers to, besides localhost and IP addresses (repeatable; DNS rebinding)",
      (name: string, all: string[]) => [...all, name],
      [] as string[],
    )
    .option(
      "--http-tls-cert <file>",
      "serve the HTTP API over HTTPS with this certificate (PEM; needed off loopback)",
    )
    .option("--http-tls-key <file>", "the HTTPS key (PEM, mode 0600)")
    .option(
      "--admin-token-file <file>",
      "where the first admin API token is written (0600) when the store has none (default: admin.token beside the store)",
    )
    .option(
      "--tls-cert <file>",
      "the orchestrator's certificate for the runner link (`hive ca issue orchestrator`); with --tls-key: mutual TLS",
    )
    .option("--tls-key <file>", "the key of --tls-cert (mode 0600)")
    .option(
      "--tls-ca <file>",
      "the cluster CA certificate runners' certificates must chain to (default <ca-dir>/ca.crt)",
    )
    .option(
      "--ca-dir <dir>",
      "the cluster CA (`hive ca init`): sign the certificates of runners that bootstrap with a join token",
    )
    .option(
      "--join-token-file <file>",
      "cleartext (loopback) links only: a file (mode 0600) with the token every runner must present",
    )
    .option("--heartbeat-ms <ms>", "runner heartbeat interval", String(DEFAULT_TIMINGS.heartbeatIntervalMs))
    .option(
      "--runner-lease-ms <ms>",
      "a runner's lease without acknowledged heartbeats (it self-fences when it lapses)",
      String(DEFAULT_TIMINGS.runnerLeaseMs),
    )
    .option(
      "--down-after-ms <ms>",
      "silence after which a node is down and its live strategies fail over (at least 2 × the lease)",
    )
    .option(
      "--restart-grace-ms <ms>",
      "after a restart, how long a node may take to come back before it is lost (default 6000)",
    )
    .option(
      "--gateway <spec>",
      "a broker gateway: name=paper,orders=tcp://h:p,control=tcp://h:p,key=<Z85 public key> (repeatable)",
      (spec: string, all: string[]) => [...all, spec],
      [] as string[],
    )
    .option(
      "--curve-key-file <file>",
      "the orchestrator's CURVE key pair for the gateways' control channels (made if missing)",
      ".hive/orchestrator.key",
    )
    .option(
      "--local <runner-config.yaml>",
      "run services on this machine with an in-process runner of this runner YAML (no remote runners)",
    )
    .action(
      async (opts: {
        store: string;
        runnerListen: string;
        httpListen: string;
        allowedHost: string[];
        httpTlsCert?: string;
        httpTlsKey?: string;
        adminTokenFile?: string;
        tlsCert?: string;
        tlsKey?: string;
        tlsCa?: string;
        caDir?: string;
        joinTokenFile?: string;
        heartbeatMs: string;
        runnerLeaseMs: string;
        downAfterMs?: string;
        restartGraceMs?: string;
        gateway: string[];
        curveKeyFile: string;
        local?: string;
      }) => {
        runAsDaemon();
        const { compileOrchestratorOptions } = await import("../../orchestrator/orchestrator-options.ts");
        const { startOrchestrator } = await import("../../orchestrator/orchestrator-server.ts");
        const { createHttpApi } = await import("../../orchestrator/http/index.ts");
        const { orchestratorMetrics } = await import("../../orchestrator/metrics.ts");
        const { createLogger } = await import("../../core/logger.ts");
        const options = compileOrchestratorOptions({
          store: opts.store,
          runnerListen: parseListen("--runner-listen", opts.runnerListen),
          httpListen: parseListen("--http-listen", opts.httpListen),
          tls: tlsFiles(opts),
          caDir: opts.caDir,
          joinTokenFile: opts.joinTokenFile,
          heartbeatIntervalMs: parseMs("--heartbeat-ms", opts.heartbeatMs),
          runnerLeaseMs: parseMs("--runner-lease-ms", opts.runnerLeaseMs),
          downAfterMs:
            opts.downAfterMs === undefined ? undefined : parseMs("--down-after-ms", opts.downAfterMs),
          restartGraceMs:
            opts.restartGraceMs === undefined
              ? undefined
              : parseMs("--restart-grace-ms", opts.restartGraceMs),
          gateways: opts.gateway.map(parseGatewayFlag),
          curveKeyFile: opts.curveKeyFile,
        });
        const http = await import("../../orchestrator/http/index.ts");
        // Before anything starts: a clear refusal, not a half-started daemon.
        const tls = http.readHttpTls(opts.httpTlsCert, opts.httpTlsKey);
        http.checkHttpListen(options.httpListen, tls !== undefined);
        const adminTokenFile = opts.adminTokenFile ?? http.defaultAdminTokenFile(options.store);
        const log = createLogger("orchestrator");
        const local = opts.local === undefined ? undefined : await localRuntimeOptions(opts.local);
        const running = await startOrchestrator(options, {
          log,
          local,
          httpApi: (core, store) => {
            const metrics = orchestratorMetrics(core);
            const app = createHttpApi({
              control: core,
              store,
              log,
              allowedHosts: opts.allowedHost,
              ...(tls === undefined ? {} : { tls }),
              metrics: {
                contentType: metrics.registry.contentType,
                render: () => metrics.registry.metrics(),
              },
            });
            return {
              listen: async (at) => {
                await http.ensureAdminToken(store, adminTokenFile, log);
                return app.listen({ host: at.host, port: at.port });
              },
              close: () => app.close(),
            };
          },
        });
        io.err(
          running.local
            ? `orchestrator: services run on this machine (node ${running.local.nodeId}); API at ${running.httpUrl}`
            : `orchestrator: runners connect to ${running.runnerUrl}; API at ${running.httpUrl}`,
        );
        const { signal, release } = await waitForStopSignal();
        io.err(
          running.local
            ? `orchestrator: ${signal}, closing (stopping the local processes)`
            : `orchestrator: ${signal}, closing (runners and their processes keep running)`,
        );
        await running.close();
        release();
        io.exit(ExitCode.Ok);
      },
    );
}
