import { mkdir } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { collectDefaultMetrics } from "prom-client";
import { HiveError } from "../core/hive-error.ts";
import { sameDirectory } from "./deployment/same-directory.ts";
import type { SocketPattern } from "../domain/index.ts";
import {
  DatasetState,
  LogStream,
  PROTOCOL_VERSION,
  ProcessState,
  RegisterSchema,
  type DatasetLoad,
  type LogRequest,
  type OrchestratorMessage,
  type Register,
  type SpawnRequest,
  type SpawnResponse,
  type SpawnResponseSchema,
  type StopRequest,
} from "../protocol/index.ts";
import { localEndpoint } from "../layout/index.ts";
import { CpuPinning } from "./deployment/cpu-pinning.ts";
import {
  loadAdoptionRecords,
  removeAdoptionRecord,
  saveAdoptionRecord,
  type AdoptionRecord,
} from "./deployment/adoption-record.ts";
import { toProtoPool, toRunnerErrorCode } from "../protocol/domain-convert.ts";
import { fromProtoRouteUpdate } from "./link/proto-convert.ts";
import { OrchestratorLink, type OrchestratorLinkState } from "./link/orchestrator-link.ts";
import type { LeaseState } from "./link/lease-guard.ts";
import { systemClock } from "../core/monotonic-clock.ts";
import { hasOrderPath, SelfFencing } from "./deployment/self-fencing.ts";
import { readLog, recoverProcesses, type ManagedProcess } from "./process/index.ts";
import type { CompiledRunnerOptions } from "./runner-options.ts";
import type { RunnerDeps } from "./runner-deps.ts";
import { runnerMetrics, serveMetrics } from "./runner-metrics.ts";
import {
  processStatus,
  rebuildDeployment,
  spawnDeployment,
  type NodeDeployment,
} from "./deployment/spawn-deployment.ts";

/** The runner's version, reported at registration. */
export const RUNNER_VERSION = "0.1.0";

/** A spawn in progress: its request, and the ids of the same spawn asked again meanwhile. */
interface Spawning {
  readonly request: SpawnRequest;
  readonly waiting: string[];
}

/** A SpawnResponse's fields but the ids it answers. */
type SpawnAnswer = Omit<
  Exclude<MessageInitShape<typeof SpawnResponseSchema>, SpawnResponse>,
  "requestId" | "deploymentId"
>;

/**
 * The runner daemon: registers the node with the orchestrator, keeps its lease with heartbeats
 * that carry real load and every process's state, and does what the orchestrator asks: spawn and
 * stop deployments, route their sockets, load datasets, stream logs.
 *
 * Processes outlive the runner: closing it leaves them running; a restarted runner re-adopts
 * them from its records and reports them in its next Register, so the orchestrator restarts
 * nothing that is healthy. `close({ stopDeployments: true })` stops them too. Losing the
 * orchestrator is another matter for live strategies: when the lease runs out their order paths
 * close, and after a grace they are killed (self-fencing.ts).
 */
export class Runner {
  private readonly deployments = new Map<string, NodeDeployment>();
  private readonly pinning: CpuPinning;
  private readonly link: OrchestratorLink;
  private readonly logFollowers = new Map<string, AbortController>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Deployments whose spawn is in progress. */
  private readonly spawning = new Map<string, Spawning>();
  /** SetOrderPath commands for deployments whose spawn was still in progress. */
  private readonly commandedDuringSpawn = new Map<string, { open: boolean; epoch: bigint }>();
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
    });
  }

  /** Re-adopts what a previous run left, then connects to the orchestrator. */
  async start(): Promise<void> {
    const o = this.options;
    const log = this.deps.log;
    await Promise.all([
      ...[o.stateDir, o.runDir, this.logDir].map((d) => mkdir(d, { recursive: true })),
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
    await this.recover();
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
    for (const follower of this.logFollowers.values()) follower.abort();
    const datasetsClosed = this.deps.datasets.close();
    await this.link.close();
    await Promise.allSettled([...this.pending]);
    if (options.stopDeployments) {
      await Promise.allSettled(
        [...this.deployments.keys()].map((id) => this.stop(id, this.options.stopGraceMs)),
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

  private async recover(): Promise<void> {
    const { records, unreadable } = await loadAdoptionRecords(this.options.stateDir);
    for (const name of unreadable)
      this.deps.log.error({ file: name }, "unreadable deployment record ignored");
    // What the previous run left in RAM, kept even under a lowered budget where a process that
    // outlived it still reads it (it is pinned again when that process is re-adopted).
    await this.deps.datasets.adoptExisting({ inUse: records.flatMap((r) => r.request.datasets) });
    const recovery = await recoverProcesses({ stateDir: this.options.stateDir, driver: this.deps.cgroups });
    const alive = new Map(recovery.processes.map((p) => [p.deploymentId, p]));
    for (const record of records) {
      const id = record.request.deploymentId;
      const process = alive.get(id);
      if (!process) {
        await removeAdoptionRecord(this.options.stateDir, id);
        continue;
      }
      alive.delete(id);
      const deployment = this.adoptable(record, process);
      const moved =
        record.runDir !== undefined && !sameDirectory(record.runDir, this.options.runDir)
          ? new HiveError(
              "failed_precondition",
              `its local sockets are under ${record.runDir}, and this runner's run directory is ` +
                `${this.options.runDir}: the process could not reach them`,
            )
          : undefined;
      const adopted = moved === undefined ? this.adopt(deployment) : Promise.reject(moved);
      await adopted.catch((err: unknown) => this.abandon(deployment, err));
    }
    // A process the process layer recorded but the runner did not (it died between the launch
    // and its own record) is not adopted half-known: it is killed, so that no unknown copy can
    // share a restarted deployment's local sockets.
    for (const [id, process] of alive) {
      this.deps.log.warn(
        { deploymentId: id, pid: process.pid },
        "killing a process without a deployment record",
      );
      await process.kill().catch(() => undefined);
      await process.cgroup?.destroy().catch(() => undefined);
    }
    if (recovery.killedGroups.length > 0) {
      this.deps.log.warn({ groups: recovery.killedGroups }, "killed processes this runner has no record of");
    }
  }

  /**
   * A process that outlived the runner but cannot be re-adopted (its port is outside a narrowed
   * range, its cores are gone, its sockets cannot be bound): it cannot be supervised, so it is
   * killed and everything it held freed, and the runner starts without it (the orchestrator, which
   * does not see it in the Register, starts it again). One bad record must not keep the runner down.
   */
  private async abandon(d: NodeDeployment, err: unknown): Promise<void> {
    const process = d.process;
    this.deps.log.error(
      { deploymentId: d.request.deploymentId, pid: process?.pid, err: HiveError.from(err).message },
      "could not re-adopt a process that outlived the runner: it is killed",
    );
    this.deployments.delete(d.request.deploymentId);
    await process?.kill().catch(() => undefined);
    d.final = await process?.exited;
    await this.release(d);
  }

  /**
   * The deployment of a process that outlived the runner, from its record, in the map before
   * anything of it is taken back: whatever adopt() gets through, release() frees.
   */
  private adoptable(record: AdoptionRecord, process: ManagedProcess): NodeDeployment {
    const deployment: NodeDeployment = {
      request: record.request,
      process,
      cgroup: process.cgroup,
      ports: [...record.ports],
      cpus: [...record.cpus],
      addresses: [...record.addresses],
      datasets: [],
      epoch: record.epoch,
      ordersOpen: record.ordersOpen,
      patterns: new Map(),
    };
    this.deployments.set(record.request.deploymentId, deployment);
    return deployment;
  }

  private async adopt(deployment: NodeDeployment): Promise<void> {
    const id = deployment.request.deploymentId;
    this.pinning.restore(id, deployment.cpus);
    // The new post office binds the same local paths; the process's sockets reconnect to them.
    // Its order path stays closed until the first lease, then takes the recorded command.
    await rebuildDeployment(this.context(), deployment);
    this.watchExit(deployment);
    this.deps.log.info(
      { deploymentId: id, pid: deployment.process?.pid },
      "re-adopted a process that outlived the runner",
    );
  }

  private context() {
    return {
      options: this.options,
      deps: this.deps,
      pinning: this.pinning,
      logDir: this.logDir,
      ordersAllowed: () => this.fencing.ordersAllowed,
      datasetProgress: (status: Parameters<Runner["sendDatasetStatus"]>[0]) => this.sendDatasetStatus(status),
    };
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
      joinToken: o.joinToken,
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
          ordersEnabled: hasOrderPath(d) && this.fencing.effective(d.ordersOpen),
        })),
        // Spawns still in progress (a dataset loading): reported as starting, so that an
        // orchestrator that restarted meanwhile asks again instead of taking them for dead.
        ...[...this.spawning.values()]
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
        processes: [...this.deployments.values()].map(processStatus),
        hotDatasets: this.hotDatasets(),
      },
    });
  }

  private sendDatasetStatus(status: {
    id: string;
    version: string;
    state: DatasetState;
    loadedBytes?: number;
    totalBytes?: number;
    error?: unknown;
  }): void {
    this.link.send({
      case: "datasetStatus",
      value: {
        id: status.id,
        version: status.version,
        state: status.state,
        loadedBytes: BigInt(status.loadedBytes ?? 0),
        totalBytes: BigInt(status.totalBytes ?? 0),
        error: status.error
          ? { code: toRunnerErrorCode(status.error), message: HiveError.from(status.error).message }
          : undefined,
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
    switch (m.case) {
      case "spawnRequest":
        return this.background(this.spawn(m.value));
      case "stopRequest":
        return this.background(this.answerStop(m.value));
      case "routeUpdate": {
        // A route for a deployment that is not here, or whose process ended and whose sockets
        // were released a moment ago, is skipped, not fatal: the update is still acknowledged
        // (an orchestrator that waits for the ack would otherwise stall until its timeout).
        const routable = (id: string) => {
          const d = this.deployments.get(id);
          return d !== undefined && d.released === undefined ? d : undefined;
        };
        const known: typeof m.value.routes = [];
        for (const r of m.value.routes) {
          if (routable(r.deploymentId)?.patterns.has(r.socketName)) known.push(r);
          else this.deps.log.warn({ deploymentId: r.deploymentId, socket: r.socketName }, "route skipped");
        }
        const removals = m.value.removals.filter((r) => routable(r.deploymentId) !== undefined);
        const update = fromProtoRouteUpdate({ ...m.value, routes: known, removals }, (d, s) => ({
          pattern: this.patternOf(d, s),
          local: localEndpoint(this.options.runDir, d, s),
        }));
        await this.deps.postOffice.applyRoutes(update);
        this.link.send({ case: "routeAck", value: { version: m.value.version } });
        return;
      }
      case "setOrderPath":
        return this.setOrderPath(m.value.deploymentId, m.value.open, m.value.epoch);
      case "datasetLoad":
        return this.background(this.loadDataset(m.value));
      case "datasetEvict": {
        const evicted = await this.deps.datasets.evict(m.value.id, m.value.version).catch((err: unknown) => {
          this.sendDatasetStatus({ ...m.value, state: DatasetState.FAILED, error: err });
          return undefined;
        });
        if (evicted !== undefined) this.sendDatasetStatus({ ...m.value, state: DatasetState.EVICTED });
        return;
      }
      case "logRequest":
        return this.background(this.streamLog(m.value));
      case "logCancel":
        this.logFollowers.get(m.value.requestId)?.abort();
        return;
      case "registerAck":
      case "heartbeatAck":
      case undefined:
        return;
    }
  }

  /**
   * The orchestrator's command for an order path: recorded (and persisted, so a restarted runner
   * restores it), and applied at once unless the runner has no lease, in which case the path
   * stays closed until a lease is granted again.
   */
  private async setOrderPath(id: string, open: boolean, epoch: bigint): Promise<void> {
    const d = this.deployments.get(id);
    if (!d && this.spawning.has(id)) {
      this.commandedDuringSpawn.set(id, { open, epoch });
      return;
    }
    const effective = this.fencing.effective(open);
    // A close takes effect before anything is written (the state disk may be slow, or the pool
    // threads busy); an open only once its record says so, so a restart cannot lose it.
    if (!effective) await this.deps.postOffice.setOrderPath(id, false, epoch);
    if (d) {
      d.ordersOpen = open;
      // Fencing epochs only move forward (the post office ignores a lower one too).
      if (epoch > d.epoch) d.epoch = epoch;
      await this.persist(d);
    }
    // The lease is asked again after the write: it may have run out meanwhile (self-fencing then
    // closed every path), and an open decided before the write must not undo that.
    if (open && !this.fencing.effective(true))
      this.deps.log.warn(
        { deploymentId: id, lease: this.fencing.state },
        "order path stays closed: no lease",
      );
    else if (open) await this.deps.postOffice.setOrderPath(id, true, epoch);
  }

  /** Writes a deployment's record (what a restarted runner re-adopts it with). */
  private async persist(d: NodeDeployment): Promise<void> {
    // A released deployment has no record any more; writing one would resurrect it.
    if (d.final || d.released) return;
    await saveAdoptionRecord(this.options.stateDir, {
      request: d.request,
      ports: d.ports,
      cpus: d.cpus,
      addresses: d.addresses,
      epoch: d.epoch,
      ordersOpen: d.ordersOpen,
      runDir: this.options.runDir,
    }).catch((err: unknown) =>
      this.deps.log.error({ deploymentId: d.request.deploymentId, err }, "deployment record not written"),
    );
  }

  private patternOf(deploymentId: string, socket: string): SocketPattern {
    const pattern = this.deployments.get(deploymentId)?.patterns.get(socket);
    if (!pattern)
      throw new HiveError(
        "not_found",
        `route for ${deploymentId}.${socket}: no such deployment or socket here`,
      );
    return pattern;
  }

  private async spawn(request: SpawnRequest): Promise<void> {
    const id = request.deploymentId;
    const existing = this.deployments.get(id);
    const reply = (requestId: string, answer: SpawnAnswer) =>
      this.link.send({ case: "spawnResponse", value: { requestId, deploymentId: id, ...answer } });
    // Spawns are idempotent by deployment id. Asked again for one that runs (a retry after a
    // reconnect or after the orchestrator restarted, under the same request id or a new one), the
    // runner answers with the process it has; asked while it is still being spawned (a dataset
    // loading), it answers every request when that one spawn is done.
    if (existing && !existing.final) {
      if (existing.process?.state === "running") {
        reply(request.requestId, {
          ok: true,
          pid: existing.process.pid,
          addresses: existing.addresses,
          ports: existing.ports,
        });
        return;
      }
      reply(request.requestId, {
        ok: false,
        error: {
          code: toRunnerErrorCode(new HiveError("already_exists", "")),
          message: `${id} is being stopped on ${this.options.nodeId}; ask again once it has ended`,
        },
      });
      return;
    }
    const inProgress = this.spawning.get(id);
    if (inProgress) {
      inProgress.waiting.push(request.requestId);
      this.deps.log.info({ deploymentId: id }, "spawn already in progress; it answers this request too");
      return;
    }
    const spawning: Spawning = { request, waiting: [] };
    this.spawning.set(id, spawning);
    const answerAll = (answer: SpawnAnswer) => {
      for (const requestId of [request.requestId, ...spawning.waiting]) reply(requestId, answer);
    };
    try {
      // A previous instance of this id is being released: let it finish before reusing the id.
      await existing?.released;
      const deployment = await spawnDeployment(this.context(), request);
      this.deployments.set(id, deployment);
      // From here its exit frees what it holds, whatever happens next.
      this.watchExit(deployment);
      try {
        const commanded = this.commandedDuringSpawn.get(id);
        if (commanded) {
          deployment.ordersOpen = commanded.open;
          if (commanded.epoch > deployment.epoch) deployment.epoch = commanded.epoch;
        }
        // The lease may have come or gone while the spawn ran (self-fencing did not see it yet).
        if (hasOrderPath(deployment)) {
          if (this.fencing.state === "killed") {
            // Self-fencing killed the live processes while this one was being spawned (it was not
            // one of them yet): it goes the same way.
            deployment.selfFenced = "self-fenced: the lease was lost while it was being spawned";
            throw new HiveError("failed_precondition", deployment.selfFenced);
          }
          await this.deps.postOffice.setOrderPath(
            id,
            this.fencing.effective(deployment.ordersOpen),
            deployment.epoch,
          );
        }
        await saveAdoptionRecord(this.options.stateDir, {
          request,
          ports: deployment.ports,
          cpus: deployment.cpus,
          addresses: deployment.addresses,
          epoch: deployment.epoch,
          ordersOpen: deployment.ordersOpen,
          runDir: this.options.runDir,
        });
      } catch (err) {
        // Launched but not set up (its record not written, its order path not set): it must not
        // run unrecorded. It is killed (a stop it obeys would end it with code 0, which reads as a
        // clean finish) and freed by its exit watcher; it stays listed with its end, so the
        // heartbeats tell an orchestrator that adopted it from a Register meanwhile.
        await deployment.process?.kill().catch(() => undefined);
        await this.release(deployment);
        throw err;
      }
      this.deps.log.info(
        { deploymentId: id, pid: deployment.process?.pid, addresses: deployment.addresses },
        "spawned",
      );
      answerAll({
        ok: true,
        pid: deployment.process?.pid ?? 0,
        addresses: deployment.addresses,
        ports: deployment.ports,
      });
    } catch (err) {
      this.deps.log.warn({ deploymentId: id, err: HiveError.from(err).message }, "spawn failed");
      answerAll({ ok: false, error: { code: toRunnerErrorCode(err), message: HiveError.from(err).message } });
    } finally {
      this.spawning.delete(id);
      this.commandedDuringSpawn.delete(id);
    }
  }

  /** When a process ends on its own, its resources are freed at once; its status stays reported. */
  private watchExit(d: NodeDeployment): void {
    const p = d.process;
    if (!p) return;
    void p.exited.then(async (status) => {
      d.final = d.selfFenced === undefined ? status : { ...status, reason: d.selfFenced };
      this.deps.log.info({ deploymentId: d.request.deploymentId, reason: status.reason }, "process ended");
      await this.release(d);
    });
  }

  /** Frees what a deployment holds, once, however many paths (exit, stop) ask for it. */
  private release(d: NodeDeployment): Promise<void> {
    d.released ??= this.releaseNow(d);
    return d.released;
  }

  private async releaseNow(d: NodeDeployment): Promise<void> {
    const id = d.request.deploymentId;
    this.deps.ports.release(id);
    this.pinning.release(id);
    for (const ds of d.datasets) this.deps.datasets.release(ds.id, ds.version);
    d.datasets = [];
    await this.deps.postOffice.removeDeployment(id).catch(() => undefined);
    await d.cgroup
      ?.destroy()
      .catch((err: unknown) => this.deps.log.error({ deploymentId: id, err }, "cgroup not removed"));
    // Logged, not thrown: a release runs from an exit watcher too, where nobody could catch it.
    await removeAdoptionRecord(this.options.stateDir, id).catch((err: unknown) =>
      this.deps.log.error({ deploymentId: id, err }, "deployment record not removed"),
    );
  }

  private async stop(deploymentId: string, graceMs: number) {
    const d = this.deployments.get(deploymentId);
    if (!d?.process)
      throw new HiveError("not_found", `no deployment ${deploymentId} on ${this.options.nodeId}`);
    const status = d.final ?? (await d.process.stop(graceMs));
    d.final = status;
    await this.release(d);
    return d;
  }

  private async answerStop(r: StopRequest): Promise<void> {
    try {
      const d = await this.stop(r.deploymentId, r.gracePeriodMs || this.options.stopGraceMs);
      this.deployments.delete(r.deploymentId);
      this.link.send({
        case: "stopResponse",
        value: {
          requestId: r.requestId,
          deploymentId: r.deploymentId,
          ok: true,
          finalStatus: processStatus(d),
        },
      });
    } catch (err) {
      this.link.send({
        case: "stopResponse",
        value: {
          requestId: r.requestId,
          deploymentId: r.deploymentId,
          ok: false,
          error: { code: toRunnerErrorCode(err), message: HiveError.from(err).message },
        },
      });
    }
  }

  private async loadDataset(r: DatasetLoad): Promise<void> {
    const total = Number(r.sizeBytes);
    this.sendDatasetStatus({
      id: r.id,
      version: r.version,
      state: DatasetState.LOADING,
      loadedBytes: 0,
      totalBytes: total,
    });
    try {
      const loaded = await this.deps.datasets.load(
        { id: r.id, version: r.version, source: r.sourcePath },
        {
          onProgress: (loadedBytes, totalBytes) =>
            this.sendDatasetStatus({
              id: r.id,
              version: r.version,
              state: DatasetState.LOADING,
              loadedBytes,
              totalBytes,
            }),
        },
      );
      this.sendDatasetStatus({
        id: r.id,
        version: r.version,
        state: DatasetState.HOT,
        loadedBytes: loaded.bytes,
        totalBytes: loaded.bytes,
      });
    } catch (err) {
      this.sendDatasetStatus({ id: r.id, version: r.version, state: DatasetState.FAILED, error: err });
    }
  }

  private async streamLog(r: LogRequest): Promise<void> {
    const abort = new AbortController();
    this.logFollowers.set(r.requestId, abort);
    const stream = r.stream === LogStream.STDERR ? "stderr" : "stdout";
    const chunk = (part: { data: Uint8Array } | { eof: true }) =>
      this.link.send({
        case: "logChunk",
        value: {
          requestId: r.requestId,
          deploymentId: r.deploymentId,
          stream: r.stream || LogStream.STDOUT,
          ...part,
        },
      });
    try {
      for await (const data of readLog(this.logDir, r.deploymentId, stream, {
        tailBytes: r.tailBytes === undefined ? undefined : Number(r.tailBytes),
        follow: r.follow,
        signal: abort.signal,
      })) {
        chunk({ data });
      }
    } catch (err) {
      if (!abort.signal.aborted)
        this.deps.log.warn({ deploymentId: r.deploymentId, err }, "log stream failed");
    } finally {
      this.logFollowers.delete(r.requestId);
      chunk({ eof: true });
    }
  }
}
