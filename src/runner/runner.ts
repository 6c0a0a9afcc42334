import type { Server } from "node:http";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { collectDefaultMetrics } from "prom-client";
import { HiveError } from "../core/hive-error.ts";
import { systemClock } from "../core/monotonic-clock.ts";
import { localEndpoint } from "../layout/index.ts";
import { toProtoPool, toRunnerError } from "../protocol/domain-convert.ts";
import {
  PROTOCOL_VERSION,
  ProcessState,
  RegisterSchema,
  type OrchestratorMessage,
  type Register,
} from "../protocol/index.ts";
import { evictDataset, loadDataset, type DatasetStatusReport } from "./datasets/dataset-commands.ts";
import {
  CpuPinning,
  hasOrderPath,
  NodeDeployments,
  processStatus,
  recoverDeployments,
  SelfFencing,
  type NodeDeployment,
} from "./deployment/index.ts";
import {
  fromProtoRouteUpdate,
  OrchestratorLink,
  type LeaseState,
  type OrchestratorLinkState,
} from "./link/index.ts";
import { LogStreams } from "./process/log-streams.ts";
import type { ManagedProcess } from "./process/index.ts";
import type { CompiledRunnerOptions } from "./runner-options.ts";
import type { RunnerDeps } from "./runner-deps.ts";
import { runnerMetrics, serveMetrics } from "./runner-metrics.ts";
import { prepareRunnerDirectories, uidUsers } from "./uids/index.ts";

/** The runner's version, reported at registration. */
export const RUNNER_VERSION = "0.1.0";

/**
 * The runner daemon: registers the node with the orchestrator, keeps its lease with heartbeats
 * that carry real load and every process's state, and does what the orchestrator asks: spawn and
 * stop deployments (deployment/), route their sockets (post-office/), load datasets (datasets/),
 * stream logs (process/). This class keeps registration, heartbeats and dispatch; the life of one
 * deployment on this node is deployment/node-deployments.ts's.
 *
 * Processes outlive the runner: closing it leaves them running; a restarted runner re-adopts
 * them from its records and reports them in its next Register, so the orchestrator restarts
 * nothing that is healthy. `close({ stopDeployments: true })` stops them too. Losing the
 * orchestrator is another matter for live strategies: when the lease runs out their order paths
 * close, and after a grace they are killed (deployment/self-fencing.ts).
 */
export class Runner {
  private readonly deployments: NodeDeployments;
  private readonly pinning: CpuPinning;
  private readonly link: OrchestratorLink;
  private readonly logs: LogStreams;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly fencing: SelfFencing;
  private heartbeat: NodeJS.Timeout | undefined;
  private seq = 0n;
  private closed = false;
  private metricsServer: Server | undefined;
  /** Where the runner serves its Prometheus metrics, if it does. */
  metricsUrl: string | undefined;

  constructor(
    readonly options: CompiledRunnerOptions,
    private readonly deps: RunnerDeps,
  ) {
    const exclusive = Math.min(
      options.capacityLimits.exclusiveCores ?? Math.max(0, deps.machine.cpus.length - 1),
      deps.machine.cpus.length,
    );
    this.pinning = new CpuPinning(deps.machine.cpus, exclusive);
    this.fencing = new SelfFencing({
      clock: deps.clock ?? systemClock,
      killAfterMs: options.selfFenceKillAfterMs,
      deployments: () => this.deployments.values(),
      postOffice: deps.postOffice,
      log: deps.log,
      background: (work) => this.background(work),
    });
    // Before any deployment is added: every order path asks the lease itself, per order.
    deps.postOffice.bindLease?.({ remainingMs: () => this.fencing.leaseRemainingMs() });
    this.link = new OrchestratorLink({
      urls: options.orchestrators,
      register: () => this.register(),
      onMessage: (m) => this.handle(m),
      onState: (state, detail) => this.onLinkState(state, detail),
      onHeartbeatAck: (ack) => this.fencing.lease.heartbeatAcked(ack.seq, ack.leaseTtlMs),
      onSlowMessage: (slow) => {
        const fields = { kind: slow.kind, ms: Math.round(slow.ms), waiting: slow.waiting };
        if (slow.done)
          deps.log.warn(fields, "orchestrator message handled at last; the ones behind it go on");
        else
          deps.log.error(
            fields,
            "orchestrator message still being handled; every message behind it waits (heartbeats go on)",
          );
      },
      transport: deps.transport,
      tls: deps.tls,
    });
    this.deployments = new NodeDeployments({
      options,
      deps,
      pinning: this.pinning,
      fencing: this.fencing,
      logDir: this.logDir,
      datasetProgress: (status) => this.sendDatasetStatus(status),
      send: (message) => this.link.send(message),
    });
    this.logs = new LogStreams(
      this.logDir,
      (chunk) => this.link.send({ case: "logChunk", value: chunk }),
      deps.log,
    );
  }

  /** Re-adopts what a previous run left, then connects to the orchestrator. */
  async start(): Promise<void> {
    const o = this.options;
    const log = this.deps.log;
    await Promise.all([
      prepareRunnerDirectories(
        { stateDir: o.stateDir, runDir: o.runDir, logDir: this.logDir, datasetDir: o.datasetDir },
        this.deps.uids === undefined ? undefined : o.deploymentUids,
      ),
      // Its relay thread takes a few hundred ms to start: no spawn should be the one that waits.
      // One that cannot start fails the market-data sockets only (and is tried again), not the
      // runner: a backtest node, or a live strategy's orders, need none.
      this.deps.postOffice
        .ready?.()
        .catch((err: unknown) =>
          log.error({ err: HiveError.from(err).message }, "post office: market data unavailable"),
        ),
    ]);
    log.info({ cgroups: this.deps.cgroups.describe(), kind: this.deps.cgroups.kind }, "resource limits");
    if (this.deps.cgroups.kind === "none")
      log.warn("no writable cgroups: processes run WITHOUT memory or CPU limits");
    if (this.deps.uids === undefined)
      log.warn(
        {
          uid: process.geteuid?.(),
          notEnforced: [
            "a uid per deployment",
            "ipc directories of their own",
            "runner keys and records out of deployments' reach",
            "read-only datasets",
          ],
        },
        "not root: every deployment runs as the runner's own user, so a strategy can read the runner's keys and " +
          "records, connect to other deployments' sockets and write datasets",
      );
    else
      log.info(
        { first: o.deploymentUids.first, last: o.deploymentUids.last },
        "deployments run under uids of their own",
      );
    await recoverDeployments(this.deployments);
    this.warnOfForeignUids();
    if (o.metricsListen) {
      const registry = this.metrics();
      // The process's own figures too (CPU, memory, GC, event-loop delay), as the orchestrator's.
      collectDefaultMetrics({ register: registry });
      const served = await serveMetrics(registry, o.metricsListen);
      this.metricsServer = served.server;
      this.metricsUrl = served.url;
      log.info({ url: served.url }, "metrics");
    }
    this.link.start();
  }

  /**
   * Warns of processes that run under a uid of this runner's range and are none of its
   * deployments (uids/uid-users.ts): another runner with an overlapping range, or a leftover.
   */
  private warnOfForeignUids(): void {
    const uids = this.deps.uids;
    if (uids === undefined) return;
    const ours = new Set(
      [...this.deployments.values()].flatMap((d) => (d.process?.pid === undefined ? [] : [d.process.pid])),
    );
    let foreign;
    try {
      foreign = uidUsers(this.options.deploymentUids).filter(
        (u) => !ours.has(u.pid) && uids.holderOf(u.uid) === undefined,
      );
    } catch (err) {
      this.deps.log.warn(
        { err: HiveError.from(err).message },
        "cannot list the processes under deployment uids",
      );
      return;
    }
    if (foreign.length > 0)
      this.deps.log.warn(
        { processes: foreign.slice(0, 20), count: foreign.length, range: this.options.deploymentUids },
        "processes that are none of this runner's deployments run under uids of its range: another runner " +
          "with an overlapping deploymentUids range, or leftovers; a deployment could share a uid with them",
      );
  }

  /** The runner's Prometheus metrics, computed from its own state at scrape time. */
  metrics() {
    return runnerMetrics({
      nodeId: this.options.nodeId,
      processStates: () => {
        const counts: Record<string, number> = {};
        for (const d of this.deployments.values()) {
          const state = d.process?.state ?? "starting";
          counts[state] = (counts[state] ?? 0) + 1;
        }
        return counts;
      },
      hotDatasets: () => this.deps.datasets.hot(),
      routes: () => this.deps.postOffice.counters?.() ?? [],
      heartbeatsSent: () => Number(this.seq),
      unlimited: () => this.deps.cgroups.kind === "none",
      lease: () => ({ state: this.fencing.state, ...this.fencing.lease.counts }),
    });
  }

  /** Where per-deployment logs are written. */
  get logDir(): string {
    return join(this.options.stateDir, "logs");
  }

  /** The link's state. */
  get linkState(): OrchestratorLinkState {
    return this.link.state;
  }

  /** Where the lease stands (self-fencing). */
  get leaseState(): LeaseState {
    return this.fencing.state;
  }

  /** How long each step of a deployment's spawn took (ms). */
  spawnTimings(deploymentId: string): Record<string, number> | undefined {
    return this.deployments.get(deploymentId)?.timings;
  }

  /** A deployment's process, if it runs here. */
  process(deploymentId: string): ManagedProcess | undefined {
    return this.deployments.get(deploymentId)?.process;
  }

  /** Stops talking to the orchestrator; the processes keep running unless asked to stop them. */
  async close(options: { stopDeployments?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Order paths close first (self-fencing.ts), and dataset loads are aborted before anything is
    // awaited: a copy can take minutes, and nothing here will use it.
    this.fencing.close();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.logs.cancelAll();
    const datasetsClosed = this.deps.datasets.close();
    await this.link.close();
    await Promise.allSettled([...this.pending]);
    if (options.stopDeployments) {
      await Promise.allSettled(
        this.deployments.ids().map((id) => this.deployments.stop(id, this.options.stopGraceMs)),
      );
    }
    await new Promise((resolve) =>
      this.metricsServer ? this.metricsServer.close(resolve) : resolve(undefined),
    );
    await this.deps.postOffice.close();
    await datasetsClosed;
    // With nothing left running, the runner's cgroup parent is empty: leave no trace of it.
    const running = [...this.deployments.values()].some((d) => d.process && !d.final);
    if (!running) {
      await this.deps.cgroups
        .removeParent()
        .catch((err: unknown) => this.deps.log.warn({ err }, "cgroup parent not removed"));
    }
  }

  private register(): Register {
    this.fencing.lease.registerSent();
    const o = this.options;
    const m = this.deps.machine;
    const cores = Math.min(m.cores, o.capacityLimits.cores ?? Infinity);
    const memory = Math.min(m.memoryBytes, o.capacityLimits.memoryBytes ?? Infinity);
    const running = [...this.deployments.values()].filter((d) => d.process && !d.final);
    const listed = new Set(running.map((d) => d.request.deploymentId));
    return create(RegisterSchema, {
      protocolVersion: PROTOCOL_VERSION,
      nodeId: o.nodeId,
      pool: toProtoPool(o.pool),
      tags: [...o.tags],
      capacity: {
        cores,
        memoryBytes: BigInt(Math.floor(memory)),
        exclusiveCores: this.pinning.pinnable.length,
      },
      portRange: { first: o.portRange.first, last: o.portRange.last },
      hotDatasets: this.hotDatasets(),
      linkBandwidthBytesPerSec: BigInt(Math.floor(o.linkBandwidthBytesPerSec)),
      // Over TLS the certificate proves the node; a token goes only over a cleartext link.
      joinToken: this.deps.tls === undefined ? (this.deps.joinToken ?? "") : "",
      runnerVersion: RUNNER_VERSION,
      resourceLimits: this.deps.cgroups.describe(),
      unlimited: this.deps.cgroups.kind === "none",
      curvePublicKey: this.deps.postOffice.curvePublicKey ?? "",
      runningDeployments: [
        ...running.map((d) => ({
          deploymentId: d.request.deploymentId,
          layout: d.request.layout,
          service: d.request.service,
          epoch: d.epoch,
          resources: d.request.resources,
          status: processStatus(d),
          addresses: d.addresses,
          ports: d.ports,
          ordersEnabled: this.ordersEnabled(d),
        })),
        // Spawns still in progress (a dataset loading): reported as starting, so that an
        // orchestrator that restarted meanwhile asks again instead of taking them for dead.
        ...[...this.deployments.spawning()]
          .filter(({ request }) => !listed.has(request.deploymentId))
          .map(({ request }) => ({
            deploymentId: request.deploymentId,
            layout: request.layout,
            service: request.service,
            epoch: request.epoch,
            resources: request.resources,
            status: { deploymentId: request.deploymentId, state: ProcessState.STARTING },
          })),
      ],
    });
  }

  /** Whether a deployment's order path is open now: commanded open, and a lease held. */
  private ordersEnabled(d: NodeDeployment): boolean {
    return !d.final && hasOrderPath(d) && this.fencing.effective(d.ordersOpen);
  }

  private hotDatasets() {
    return this.deps.datasets
      .hot()
      .map((d) => ({ id: d.id, version: d.version, sizeBytes: BigInt(d.bytes) }));
  }

  /**
   * Heartbeats run while registered. Losing the stream closes nothing by itself: the lease runs
   * to its deadline (self-fencing.ts), and a reconnection within it renews it seamlessly.
   */
  private onLinkState(state: OrchestratorLinkState, detail: string): void {
    this.deps.log.info({ state, detail, lease: this.fencing.state }, "orchestrator link");
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (state !== "registered") return;
    const ack = this.link.ack;
    const interval = ack?.heartbeatIntervalMs || 1_000;
    // The link's own fallback when the orchestrator names no lease.
    this.fencing.lease.registered(ack?.leaseTtlMs || 3 * interval);
    this.sendHeartbeat();
    this.heartbeat = setInterval(() => this.sendHeartbeat(), interval);
  }

  private sendHeartbeat(): void {
    const load = this.deps.load.sample();
    this.seq++;
    // Its send time is taken before it is queued: the lease can only come out shorter, never
    // longer. One that is not sent is never acknowledged, so recording it is harmless.
    this.fencing.lease.heartbeatSent(this.seq);
    this.link.send({
      case: "heartbeat",
      value: {
        seq: this.seq,
        sentAtUnixMs: BigInt(Date.now()),
        load: { cpuFraction: load.cpu, memoryUsedBytes: BigInt(Math.floor(load.memoryUsedBytes)) },
        // With whether each order path is open now: the orchestrator closes one open on anything
        // but this node's active (runner-reports.ts).
        processes: [...this.deployments.values()].map((d) => processStatus(d, this.ordersEnabled(d))),
        hotDatasets: this.hotDatasets(),
      },
    });
  }

  private sendDatasetStatus(status: DatasetStatusReport): void {
    this.link.send({
      case: "datasetStatus",
      value: {
        id: status.id,
        version: status.version,
        state: status.state,
        loadedBytes: BigInt(status.loadedBytes ?? 0),
        totalBytes: BigInt(status.totalBytes ?? 0),
        error: status.error ? toRunnerError(status.error) : undefined,
      },
    });
  }

  /** Runs work off the message loop (a spawn may wait for a dataset load), tracked for close. */
  private background(work: Promise<unknown>): void {
    const tracked = work.catch((err: unknown) => this.deps.log.error({ err }, "background work failed"));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** One message of the orchestrator; a failure is logged, never allowed to end the stream. */
  private async handle(message: OrchestratorMessage): Promise<void> {
    try {
      await this.dispatch(message);
    } catch (err) {
      this.deps.log.error(
        { kind: message.message.case, err: HiveError.from(err).message },
        "message not handled",
      );
    }
  }

  private async dispatch(message: OrchestratorMessage): Promise<void> {
    const m = message.message;
    const report = (status: DatasetStatusReport) => this.sendDatasetStatus(status);
    switch (m.case) {
      case "spawnRequest":
        return this.background(this.deployments.spawn(m.value));
      case "stopRequest":
        return this.background(this.deployments.answerStop(m.value));
      case "routeUpdate": {
        // A route for a deployment that is not here, or whose process ended and whose sockets
        // were released a moment ago, is skipped, not fatal: the update is still acknowledged
        // (an orchestrator that waits for the ack would otherwise stall until its timeout).
        const known: typeof m.value.routes = [];
        for (const r of m.value.routes) {
          if (this.deployments.routable(r.deploymentId)?.patterns.has(r.socketName)) known.push(r);
          else this.deps.log.warn({ deploymentId: r.deploymentId, socket: r.socketName }, "route skipped");
        }
        const removals = m.value.removals.filter(
          (r) => this.deployments.routable(r.deploymentId) !== undefined,
        );
        const update = fromProtoRouteUpdate({ ...m.value, routes: known, removals }, (d, s) => ({
          pattern: this.deployments.patternOf(d, s),
          local: localEndpoint(this.options.runDir, d, s),
        }));
        await this.deps.postOffice.applyRoutes(update);
        this.link.send({ case: "routeAck", value: { version: m.value.version } });
        return;
      }
      case "setOrderPath":
        return this.deployments.orderPaths.set(m.value.deploymentId, m.value.open, m.value.epoch);
      case "datasetLoad":
        return this.background(loadDataset(this.deps.datasets, m.value, report));
      case "datasetEvict":
        return evictDataset(this.deps.datasets, m.value, report);
      case "logRequest":
        return this.background(this.logs.serve(m.value));
      case "logCancel":
        return this.logs.cancel(m.value.requestId);
      case "registerAck":
      case "heartbeatAck":
      case undefined:
        return;
    }
  }
}
