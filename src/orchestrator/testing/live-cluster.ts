/**
 * The set-up of orchestrator tests about live strategies: a real orchestrator with fast leases on
 * a SQLite store, fencing through one gateway ("paper") that a fake answers, and fake runners on
 * the live pool.
 */
import { join } from "node:path";
import { silentLogger } from "../../core/logger.ts";
import type { GatewayControl } from "../../gateway/gateway-control.ts";
import { FakeRunner } from "../../runner/testing/fake-runner.ts";
import { compileOrchestratorOptions } from "../orchestrator-options.ts";
import { startOrchestrator, type RunningOrchestrator } from "../orchestrator-server.ts";

/** The one gateway of these tests; its control channel is the fake handed to the orchestrator. */
export const PAPER_GATEWAY = {
  name: "paper",
  orders: "tcp://127.0.0.1:7999",
  control: "tcp://127.0.0.1:7998",
  publicKey: "",
};

/**
 * Starts an orchestrator on `dir`/o.db (again, after a restart, with the same `port`);
 * `relistMs`: how often it reads the gateway's fences and node sockets again; `gatewayKey`: the
 * gateway's CURVE key, for a gateway that binds orders to nodes (default none).
 */
export function startFencedOrchestrator(
  dir: string,
  gateway: GatewayControl,
  port = 0,
  relistMs?: number,
  gatewayKey = "",
): Promise<RunningOrchestrator> {
  return startOrchestrator(
    compileOrchestratorOptions({
      store: `sqlite:${join(dir, "o.db")}`,
      runnerListen: { host: "127.0.0.1", port },
      heartbeatIntervalMs: 50,
      runnerLeaseMs: 200,
      downAfterMs: 400,
      stopGraceMs: 100,
      gateways: [{ ...PAPER_GATEWAY, publicKey: gatewayKey }],
    }),
    { log: silentLogger(), connectGateway: () => gateway, gatewayRelistMs: relistMs },
  );
}

/** A started fake runner on the live pool of `orchestrator`: 4 cores, 8 GiB, 50 ports from `first`. */
export function liveFakeRunner(
  orchestrator: RunningOrchestrator,
  nodeId: string,
  first: number,
  curvePublicKey?: string,
): FakeRunner {
  const r = new FakeRunner({
    curvePublicKey,
    nodeId,
    pool: "live",
    urls: [orchestrator.runnerUrl],
    portRange: { first, last: first + 49 },
    capacity: { cores: 4, memoryBytes: 8 * 2 ** 30, exclusiveCores: 0 },
  });
  r.start();
  return r;
}

/**
 * A layout "fenced" of one live strategy, momentum, trading account acct-1 through the paper
 * gateway, with `standby` warm standbys.
 */
export const fencedMomentum = (standby: number): string => `
name: fenced
services:
  - name: momentum
    kind: strategy
    pool: live
    command: node
    accounts: [acct-1]
    resources: { cores: 0.5, memory: 64MiB }
    sockets:
      consumes:
        - { name: orders, pattern: dealer }
    standby: ${standby}
gateways:
  - { name: paper, orders: [momentum.orders] }
`;
