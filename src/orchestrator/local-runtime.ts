import type { MessageInitShape } from "@bufbuild/protobuf";
import { createRouterTransport } from "@connectrpc/connect";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { RunnerService, type SpawnRequestSchema } from "../protocol/index.ts";
import { createRunner } from "../runner/create-runner.ts";
import type { RunnerDeps } from "../runner/runner-deps.ts";
import type { CompiledRunnerOptions } from "../runner/runner-options.ts";
import type { Runner } from "../runner/runner.ts";
import type { LogOptions } from "./control-plane.ts";
import type { Registry } from "./registry.ts";
import { runnerService, type RunnerServiceOptions, type RunnerStreamHandler } from "./runner-service.ts";
import {
  ClusterRuntime,
  type NodeRouteChange,
  type ServiceProvider,
  type SpawnOutcome,
} from "./service-provider.ts";

/**
 * The orchestrator URL the in-process runner is given. It is never dialled: the runner's link
 * reaches the orchestrator through an in-memory transport (any URL maps to it).
 */
export const LOCAL_RUNNER_URL = "http://in-process.invalid";

/** Options of {@link LocalRuntime}. */
export interface LocalRuntimeOptions {
  /** The in-process runner's options, as from a runner YAML (`orchestrators` is ignored). */
  readonly runner: CompiledRunnerOptions;
  /** Replaces any of the runner's dependencies (tests: the cgroup driver, the logger). */
  readonly overrides?: Partial<RunnerDeps>;
}

/**
 * Runs services on this machine, without a runner daemon (DESIGN.md §2): it owns a real runner
 * (cgroups, processes, ports, post office, datasets) inside the orchestrator's process and talks
 * to it over the runner protocol through Connect's in-memory router transport instead of gRPC
 * on the network. The runner registers as one node (its `nodeId`) and keeps its lease with
 * heartbeats through the very code a remote runner's stream goes through (`RunnerStream`), so
 * registry, leases, self-fencing and reconciliation behave as in a cluster. Every call is
 * delegated to a {@link ClusterRuntime} restricted to that node.
 *
 * Lifecycle: construct (with the registry, from `OrchestratorCoreOptions.provider`), `start` once
 * the orchestrator core exists, `close` before the core is closed. Unlike a remote runner's,
 * these processes do not outlive their runner: `close` stops them and removes their cgroups.
 */
export class LocalRuntime implements ServiceProvider {
  private readonly cluster: ClusterRuntime;
  private runner: Runner | undefined;
  private closed = false;

  constructor(
    registry: Registry,
    private readonly options: LocalRuntimeOptions,
  ) {
    this.cluster = new ClusterRuntime(registry);
  }

  /** The id of the one node this runtime runs services on. */
  get nodeId(): string {
    return this.options.runner.nodeId;
  }

  /** The in-process runner, once started (tests and diagnostics). */
  get localRunner(): Runner | undefined {
    return this.runner;
  }

  /**
   * Builds the in-process runner, connected to `handler` (the orchestrator core) through the
   * runner service over an in-memory transport, and starts it; it registers on its own.
   */
  async start(handler: RunnerStreamHandler, service: RunnerServiceOptions): Promise<void> {
    if (this.runner !== undefined || this.closed)
      throw new HiveError(ErrorCode.FailedPrecondition, "the local runtime was already started");
    // No join token: nothing but this process can reach the in-memory service.
    const routes = runnerService(handler, { ...service, joinToken: "" });
    const transport = createRouterTransport((router) => router.service(RunnerService, routes));
    const runner = await createRunner(
      { ...this.options.runner, orchestrators: [LOCAL_RUNNER_URL], tls: undefined, joinTokenFile: undefined },
      { ...this.options.overrides, transport: () => transport },
    );
    this.runner = runner;
    await runner.start();
  }

  /**
   * Stops the runner and every process it runs (their cgroups, ports and sockets go with them),
   * or, with `stopDeployments: false`, only the runner (a start undone: what it re-adopted runs on).
   */
  async close(options: { stopDeployments?: boolean } = {}): Promise<void> {
    this.closed = true;
    await this.runner?.close({ stopDeployments: options.stopDeployments ?? true });
  }

  reachable(nodeId: string): boolean {
    return nodeId === this.nodeId && this.cluster.reachable(nodeId);
  }

  spawn(nodeId: string, request: MessageInitShape<typeof SpawnRequestSchema>): Promise<SpawnOutcome> {
    return this.cluster.spawn(this.local(nodeId), request);
  }

  stop(nodeId: string, deploymentId: string, graceMs: number): Promise<void> {
    return this.cluster.stop(this.local(nodeId), deploymentId, graceMs);
  }

  routes(nodeId: string, change: NodeRouteChange): Promise<void> {
    return this.cluster.routes(this.local(nodeId), change);
  }

  logs(nodeId: string, deploymentId: string, options: LogOptions): AsyncIterable<Uint8Array> {
    return this.cluster.logs(this.local(nodeId), deploymentId, options);
  }

  orderPath(nodeId: string, deploymentId: string, open: boolean, epoch: bigint): void {
    this.cluster.orderPath(this.local(nodeId), deploymentId, open, epoch);
  }

  /** The node id, if it is this runtime's; any other node is not reachable from here. */
  private local(nodeId: string): string {
    if (nodeId !== this.nodeId)
      throw new HiveError(
        ErrorCode.Unavailable,
        `node ${nodeId} is not this machine's (${this.nodeId}): the local runtime runs services only here`,
      );
    return nodeId;
  }
}
