import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "../core/logger.ts";
import { RunnerService } from "../protocol/index.ts";
import { Gateways, type ConnectGateway } from "./gateways.ts";
import { Orchestrator } from "./orchestrator.ts";
import type { CompiledOrchestratorOptions } from "./orchestrator-options.ts";
import { runnerService } from "./runner-service.ts";
import { openStore } from "./store/index.ts";

/** Something that serves HTTP on an address and can be closed (the HTTP API). */
export interface HttpServer {
  listen(options: { host: string; port: number }): Promise<string>;
  close(): Promise<unknown>;
}

/** A running orchestrator daemon. */
export interface RunningOrchestrator {
  readonly core: Orchestrator;
  /** Where runners connect: http://host:port. */
  readonly runnerUrl: string;
  /** Where the HTTP API listens, if it was started. */
  readonly httpUrl: string | undefined;
  close(): Promise<void>;
}

/**
 * Starts the orchestrator: opens the store and loads the desired state, serves the runner
 * protocol (HTTP/2 cleartext) and, if given, the HTTP API, and runs the reconcile loop at half
 * the heartbeat interval (and on every event). `close` stops all of it; runners and their
 * processes keep running and re-register with the next orchestrator.
 */
export async function startOrchestrator(
  options: CompiledOrchestratorOptions,
  deps: {
    log: Logger;
    httpApi?: (core: Orchestrator) => HttpServer;
    /** Opens a gateway's control channel; by default a GatewayClient with the orchestrator's key. */
    connectGateway?: ConnectGateway;
  },
): Promise<RunningOrchestrator> {
  const store = await openStore(options.store);
  const gateways =
    options.gateways.length > 0
      ? new Gateways(
          options.gateways,
          deps.connectGateway ?? (await defaultConnectGateway(options.curveKeyFile)),
          deps.log,
        )
      : undefined;
  const core = new Orchestrator({
    gateways,
    store,
    log: deps.log,
    lease: options.lease,
    seed: options.seed,
    stopGraceMs: options.stopGraceMs,
    restartGraceMs: options.restartGraceMs,
  });
  await core.load();
  await core.restoreDrains();
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(
          RunnerService,
          runnerService(core, {
            joinToken: options.joinToken,
            heartbeatIntervalMs: options.lease.heartbeatIntervalMs,
            leaseTtlMs: options.runnerLeaseMs,
          }),
        ),
    }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.runnerListen.port, options.runnerListen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const runnerUrl = `http://${options.runnerListen.host}:${port}`;
  const http = deps.httpApi?.(core);
  const httpUrl = http ? await http.listen(options.httpListen) : undefined;
  const timer = setInterval(() => core.kick(), Math.max(20, options.lease.heartbeatIntervalMs / 2));
  deps.log.info({ runnerUrl, httpUrl, store: options.store }, "orchestrator listening");
  return {
    core,
    runnerUrl,
    httpUrl,
    async close() {
      clearInterval(timer);
      await http?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.destroy();
      await closed;
      await core.close();
      await gateways?.close();
      await store.close();
    },
  };
}

/** Control channels over ZeroMQ with CURVE, as the orchestrator key pair in `keyFile` (made if missing). */
async function defaultConnectGateway(keyFile: string): Promise<ConnectGateway> {
  const { loadOrCreateKeyPair } = await import("../gateway/keys.ts");
  const { GatewayClient } = await import("../gateway/control-client.ts");
  const keys = loadOrCreateKeyPair(keyFile);
  return (config) =>
    new GatewayClient({
      address: config.control,
      serverKey: config.publicKey === "" ? undefined : config.publicKey,
      keys: config.publicKey === "" ? undefined : keys,
    });
}
