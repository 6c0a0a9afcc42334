import { assertNever } from "../core/assert-never.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { systemClock, type MonotonicClock } from "../core/monotonic-clock.ts";
import { layoutSchema, parseYaml, ValidationError } from "../domain/index.ts";
import { validateLayout, type RoutingTables } from "../layout/index.ts";
import type { Register, RunnerMessage } from "../protocol/index.ts";
import type { ClusterState } from "../scheduler/index.ts";
import type {
  ApplyResult,
  ControlPlane,
  FailoverView,
  GatewayAccountView,
  GatewayReassignView,
  KillResult,
  DatasetView,
  DeploymentView,
  LayoutView,
  LogOptions,
  NodeView,
  ServiceExplanation,
} from "./control-plane.ts";
import { DeploymentDriver, dueAction } from "./deployment-driver.ts";
import { DeploymentWrites } from "./deployment-writes.ts";
import { step } from "./deployment-lifecycle.ts";
import { pendingDeployment, type Deployment } from "./deployment.ts";
import type { GatewayAlertCount } from "./gateway-alerts.ts";
import { GatewayOperations } from "./gateway-operations.ts";
import type { Gateways } from "./gateways.ts";
import { findLayout, findService, newLayoutEntry, type LayoutEntry } from "./layout-entry.ts";
import { applyLayout, stopLayout, type LayoutApplyContext } from "./layout-apply.ts";
import { LiveFailover } from "./live-failover.ts";
import type { Activation } from "./order-gate.ts";
import { clusterState } from "./placement.ts";
import { LostNodes } from "./lost-nodes.ts";
import { PendingPlacement } from "./pending-placement.ts";
import { ReconcileLoop } from "./reconcile-loop.ts";
import { Registry, type LeaseOptions } from "./registry.ts";
import { forgetNode, nodeRouted, pushRoutes, wantedRoutes } from "./route-sync.ts";
import type { HeartbeatVerdict, RunnerStreamHandler } from "./runner-service.ts";
import { RunnerReports, type RunnerReportCounts } from "./runner-reports.ts";
import type { RunnerSession } from "./runner-session.ts";
import { ClusterRuntime, type ServiceProvider } from "./service-provider.ts";
import { wantsRestart } from "./restart-policy.ts";
import type { Store } from "./store/store.ts";
import {
  datasetViews,
  deploymentViews,
  explainPlacement,
  layoutView,
  nodeViews,
  type ViewSource,
} from "./views.ts";

/** After a route push failed (the runner refused it, or did not acknowledge in time), the next try. */
const ROUTE_RETRY_MS = 1_000;
/** Longest an activation waits for its node's new routes before it opens anyway (order-gate.ts). */
const ROUTE_NOW_MS = 1_000;

/** Options of the orchestrator core. */
export interface OrchestratorCoreOptions {
  readonly store: Store;
  readonly log: Logger;
  readonly lease: LeaseOptions;
  /** Seed of the scheduler's tie break. */
  readonly seed?: number;
  /** Grace between SIGTERM and SIGKILL when a deployment is stopped. */
  readonly stopGraceMs?: number;
  /** Monotonic clock, ms (default the system's, core/monotonic-clock.ts). */
  readonly now?: MonotonicClock["now"];
  /** How services are run; by default through the registry's runners (ClusterRuntime). */
  readonly provider?: (registry: Registry) => ServiceProvider;
  /** The broker gateways live strategies trade through (fenced before an order path opens). */
  readonly gateways?: Gateways;
  /**
   * After a restart, how long a node that deployments are placed on may take to come back before
   * it counts as lost (default: the lease's down-after). Runners reconnect with a backoff of up to
   * a few seconds, so this is longer than down-after: a restart must not look like a lost cluster.
   */
  readonly restartGraceMs?: number;
  /** How long one pass may spend placing pending work (see pending-placement.ts); default 20 ms. */
  readonly placeBudgetMs?: number;
}

/**
 * The orchestrator's brain around the pure cores: it keeps the registry of runners, turns applied
 * layouts into deployments, places them (all or nothing for an apply), asks runners to spawn them,
 * wires them (routing tables from the addresses runners answered, pushed as the smallest diff) and
 * drives every deployment to its desired state in a reconcile loop: restarts with backoff,
 * re-placement of work from lost nodes, stops. Desired state lives in the store, so a restarted
 * orchestrator re-adopts what runners report still running and restarts nothing healthy.
 *
 * It owns that state and wires the parts that hold the rules; each gets a narrow view of it:
 * deployment-lifecycle.ts (the only writer of a deployment's phase, role and order gate),
 * {@link DeploymentDriver} (spawns, exits through the restart policy, stops),
 * {@link RunnerReports} (what registrations and heartbeats report), layout-apply.ts (applies and
 * stops of layouts), {@link PendingPlacement} (placing pending work), {@link LostNodes} (what
 * becomes of a lost node's deployments), {@link ReconcileLoop} (when
 * passes run), {@link LiveFailover} (failover and order-path activation of live strategies),
 * {@link GatewayOperations} (kill switch, accounts, market data), route-sync.ts (routing tables
 * and their pushes), views.ts (what the API shows) and {@link DeploymentWrites} (records and
 * their store writes). What stays here: loading, and the pass with its stages in order.
 */
export class Orchestrator implements ControlPlane, RunnerStreamHandler {
  readonly registry: Registry;
  private readonly layouts = new Map<string, LayoutEntry>();
  private readonly deployments = new Map<string, Deployment>();
  private readonly now: MonotonicClock["now"];
  /** Seed of the scheduler's tie break, for every placement and explanation. */
  private readonly seed: number;
  private applying: Promise<unknown> = Promise.resolve();

  private readonly records: DeploymentWrites;
  private readonly provider: ServiceProvider;
  private readonly loop: ReconcileLoop;
  private readonly live: LiveFailover;
  private readonly driver: DeploymentDriver;
  private readonly placement: PendingPlacement;
  private readonly reports: RunnerReports;
  private readonly lostNodes: LostNodes;
  private readonly gatewayOps: GatewayOperations;
  private readonly views: ViewSource;
  private readonly desired: LayoutApplyContext;

  constructor(private readonly o: OrchestratorCoreOptions) {
    this.now = o.now ?? (() => systemClock.now());
    this.seed = o.seed ?? 1;
    this.registry = new Registry(o.lease, this.now);
    this.provider = o.provider?.(this.registry) ?? new ClusterRuntime(this.registry);
    this.loop = new ReconcileLoop(() => this.pass(), o.log);
    this.records = new DeploymentWrites(this.deployments, o.store, o.log, () => this.loop.closed);
    this.driver = new DeploymentDriver({
      provider: this.provider,
      registry: this.registry,
      log: o.log,
      now: this.now,
      stopGraceMs: o.stopGraceMs ?? 5_000,
      layout: (name) => this.layouts.get(name)?.layout,
      update: (d, change) => this.records.update(d, change),
      forget: (d) => this.forget(d),
      kick: () => this.kick(),
      later: (ms) => this.loop.later(ms),
    });
    this.reports = new RunnerReports({
      deployments: this.deployments,
      log: o.log,
      now: this.now,
      stopGraceMs: o.stopGraceMs ?? 5_000,
      update: (d, change) => this.records.update(d, change),
      exited: (d, exit) => this.driver.exited(d, exit),
    });
    this.lostNodes = new LostNodes({
      layouts: this.layouts,
      deployments: this.deployments,
      registry: this.registry,
      now: this.now,
      restartGraceMs: o.restartGraceMs ?? o.lease.downAfterMs,
      update: (d, change) => this.records.update(d, change),
      liveLost: (d, why) => this.live.liveLost(d, why),
    });
    // What placing reads (applies, pending work, explanations): one object, shared.
    const placing = {
      layouts: this.layouts,
      deployments: this.deployments,
      log: o.log,
      seed: this.seed,
      clusterState: () => this.clusterState(),
    };
    this.placement = new PendingPlacement({
      ...placing,
      budgetMs: o.placeBudgetMs ?? 20,
      update: (d, change) => this.records.update(d, change),
      later: (ms) => this.loop.later(ms),
    });
    this.live = new LiveFailover({
      store: o.store,
      gateways: o.gateways,
      provider: this.provider,
      log: o.log,
      deployments: this.deployments,
      now: this.now,
      layout: (name) => this.layouts.get(name)?.layout,
      update: (d, change) => this.records.update(d, change),
      commit: (changes, added) => this.records.commit(changes, added),
      closed: () => this.loop.closed,
      retryLater: (ms) => this.loop.later(ms),
      activated: (activation) => this.onActivation?.(activation),
      routed: (nodeId) => this.routeNode(nodeId),
      knows: (id) =>
        this.deployments.has(id) || this.records.wasForgotten(id) || (o.gateways?.inherited(id) ?? false),
    });
    this.gatewayOps = new GatewayOperations({
      gateways: o.gateways,
      log: o.log,
      layouts: this.layouts,
      deployments: this.deployments,
      store: o.store,
    });
    this.desired = { ...placing, store: o.store, kick: () => this.kick() };
    this.views = { ...placing, registry: this.registry, wantedRoutes: (entry) => this.wantedRoutes(entry) };
  }

  /** Loads the desired state from the store (after a restart: what was applied before). */
  async load(): Promise<void> {
    this.lostNodes.loaded();
    for (const rec of await this.o.store.listLayouts()) {
      // The source as applied is the truth; the stored spec is the schema's output, for readers.
      const layout = parseYaml(rec.source, `${rec.name} (as applied)`, layoutSchema).value;
      this.layouts.set(rec.name, newLayoutEntry(rec, layout));
    }
    for (const rec of await this.o.store.listDeployments()) {
      const manifest = this.layouts.get(rec.layout)?.layout.services.find((s) => s.name === rec.service);
      if (!manifest) continue;
      const d = pendingDeployment(rec, manifest);
      const finished = rec.lastExit?.code === 0 && !wantsRestart(manifest.restart, 0);
      step(d, { type: "restored", finished, placed: Boolean(rec.nodeId) });
      this.deployments.set(rec.id, d);
    }
    this.o.log.info(
      { layouts: this.layouts.size, deployments: this.deployments.size },
      "desired state loaded",
    );
  }

  // ---------------------------------------------------------------- runner streams

  onRegister(
    register: Register,
    session: RunnerSession,
  ): { accepted: true } | { accepted: false; reason: string } {
    // Before anything changes: a refused session leaves the node's own session undisturbed.
    const refusal = this.registry.admits(register.nodeId, session.identity);
    if (refusal !== undefined) return { accepted: false, reason: refusal };
    const entry = this.registry.register(register, session, this.drained.has(register.nodeId));
    this.o.log.info(
      {
        nodeId: entry.id,
        tags: register.tags,
        limits: register.resourceLimits,
        running: register.runningDeployments.length,
      },
      "runner registered",
    );
    if (register.unlimited) this.o.log.warn({ nodeId: entry.id }, "runner has no resource limits");
    this.o.gateways?.setRunnerKey(entry.id, register.curvePublicKey);
    // Routes are re-sent in full: a restarted runner has none.
    for (const l of this.layouts.values()) forgetNode(l, entry.id);
    this.reports.registered(entry.id, register, session);
    this.kick();
    return { accepted: true };
  }

  onMessage(nodeId: string, session: RunnerSession, message: RunnerMessage): HeartbeatVerdict | void {
    const m = message.message;
    if (m.case === "heartbeat") {
      const entry = this.registry.heartbeat(nodeId, session, m.value);
      if (!entry) return "withhold";
      if (m.value.sentAtUnixMs > 0n) this.onHeartbeat?.(Date.now() - Number(m.value.sentAtUnixMs));
      // A node declared down renews nothing until it registers again (registry.ts): its open
      // order paths are closed, the heartbeat goes unacknowledged.
      if (entry.health === "down") return this.reports.fromDownNode(nodeId, session, m.value.processes);
      this.reports.heartbeat(nodeId, session, m.value.processes);
      return "ack";
    }
    this.registry.touch(nodeId, session);
    if (!session.deliver(message) && m.case === "datasetStatus") {
      this.o.log.info(
        { nodeId, dataset: `${m.value.id}@${m.value.version}`, state: m.value.state },
        "dataset",
      );
    }
  }

  onClose(nodeId: string, session: RunnerSession): void {
    this.registry.disconnected(nodeId, session);
    this.o.log.warn({ nodeId }, "runner stream ended");
  }

  // ---------------------------------------------------------------- apply and stop

  async applyLayout(source: string, fileName: string): Promise<ApplyResult> {
    const parsed = parseYaml(source, fileName, layoutSchema);
    const issues = [...validateLayout(parsed.value), ...this.gatewayOps.issues(parsed.value)];
    if (issues.length > 0) throw new ValidationError(issues.map((i) => parsed.locate(i)));
    // One apply at a time: each reads and writes the same desired state.
    const run = this.applying.then(() => applyLayout(this.desired, parsed.value, source));
    this.applying = run.catch(() => undefined); // its caller gets the error (run); the queue goes on
    return run;
  }

  stopLayout(name: string): Promise<void> {
    // Serialized with applies: both read and write the same desired state.
    const run = this.applying.then(() => stopLayout(this.desired, name));
    this.applying = run.catch(() => undefined); // its caller gets the error (run); the queue goes on
    return run;
  }

  // ---------------------------------------------------------------- the reconcile loop

  /** Resolves once no reconcile pass or apply is running (for a clean close). */
  async settle(): Promise<void> {
    await this.applying;
    await this.loop.idle();
  }

  /**
   * Stops the orchestrator's own work for a clean shutdown: no more passes or retry timers, the
   * running apply and pass finish, and every store write already made is awaited, so the store
   * can be closed under nothing. Runners and their processes are not touched.
   */
  async close(): Promise<void> {
    this.loop.close();
    await this.settle();
    await this.records.written();
  }

  /** Asks for a reconcile pass soon (coalesced). */
  kick(): void {
    this.loop.kick();
  }

  /** One pass of driving every deployment towards its desired state. */
  reconcile(): Promise<void> {
    return this.loop.run();
  }

  /**
   * One reconcile pass, its stages in this order: lost nodes first (their work becomes pending),
   * then placement (so that it can start in this same pass), then each deployment's due action,
   * then the order gates (of actives now running), the gateways, and last the layouts' routes
   * (from what runs now).
   */
  private async pass(): Promise<void> {
    // 1. Nodes: health from the leases; a down node, or one unseen after a restart, is lost.
    for (const change of this.registry.tick()) {
      this.o.log.warn(change, "node health changed");
      if (change.to === "down") this.lostNodes.lost(change.nodeId, "is down");
    }
    this.lostNodes.checkUnseen();
    // 2. Placement of pending work, under its time budget.
    this.placement.place();
    // 3. Start, stop or forget each deployment (dueAction).
    const now = this.now();
    for (const d of this.deployments.values()) {
      const action = dueAction(d, now);
      switch (action) {
        case "start":
          this.driver.start(d);
          break;
        case "stop":
          this.driver.stop(d);
          break;
        case "forget":
          this.forget(d);
          break;
        case "none":
          break;
        default:
          assertNever(action, "reconcile action");
      }
    }
    // 4. Order paths of running actives, opened after fencing; 5. the gateways' keys and feeds.
    this.live.openGates();
    this.gatewayOps.sync();
    // 6. Layouts: drop a stopped one, push the others' routes.
    for (const entry of [...this.layouts.values()]) {
      if (
        entry.rec.state === "stopping" &&
        ![...this.deployments.values()].some((d) => d.rec.layout === entry.rec.name)
      ) {
        this.layouts.delete(entry.rec.name);
        await this.o.store.deleteLayout(entry.rec.name);
        this.o.log.info({ layout: entry.rec.name }, "layout stopped");
        continue;
      }
      this.pushRoutes(entry);
    }
  }

  private forget(d: Deployment): void {
    this.records.forget(d);
    this.kick();
  }

  /**
   * Computes a layout's routing tables from what runs, and pushes only what changed, without
   * waiting for the runners: an acknowledged push asks for a pass (the layout may now be
   * `running`, or more changed meanwhile); a failed one is tried again after ROUTE_RETRY_MS.
   */
  private pushRoutes(entry: LayoutEntry): void {
    pushRoutes(entry, this.wantedRoutes(entry), this.provider, this.o.log, (acknowledged) =>
      acknowledged ? this.kick() : this.loop.later(ROUTE_RETRY_MS),
    );
  }

  /**
   * Pushes `nodeId`'s routes of every layout now where they changed, and waits (at most
   * ROUTE_NOW_MS) for its runner to acknowledge them: an activation does so between fencing and
   * opening, so the order path is on its way to the node's gateway socket when it opens.
   */
  private async routeNode(nodeId: string): Promise<void> {
    await Promise.all(
      [...this.layouts.values()].map((entry) =>
        nodeRouted(
          entry,
          nodeId,
          () => this.wantedRoutes(entry),
          () => this.pushRoutes(entry),
          ROUTE_NOW_MS,
        ),
      ),
    );
  }

  /** The routing tables a layout wants now (route-sync.ts). */
  private wantedRoutes(entry: LayoutEntry): RoutingTables {
    return wantedRoutes(entry, this.deployments.values(), this.o.gateways?.addresses());
  }

  /** The cluster as the scheduler sees it now (placement.ts). */
  private clusterState(): ClusterState {
    return clusterState(this.registry, this.deployments.values());
  }

  // ---------------------------------------------------------------- views (ControlPlane)

  listLayouts(): Promise<LayoutView[]> {
    return Promise.resolve([...this.layouts.values()].map((l) => layoutView(this.views, l)));
  }

  getLayout(name: string): Promise<LayoutView> {
    return Promise.resolve(layoutView(this.views, findLayout(this.layouts, name)));
  }

  listNodes(): Promise<NodeView[]> {
    return Promise.resolve(nodeViews(this.views));
  }

  listDeployments(filter: { layout?: string; nodeId?: string } = {}): Promise<DeploymentView[]> {
    return Promise.resolve(deploymentViews(this.views, filter));
  }

  explain(layout: string, service: string): Promise<ServiceExplanation> {
    return Promise.resolve(explainPlacement(this.views, layout, service));
  }

  async drain(nodeId: string, draining: boolean): Promise<NodeView> {
    this.registry.setDraining(nodeId, draining);
    await this.o.store.setDraining(nodeId, draining);
    const view = (await this.listNodes()).find((n) => n.id === nodeId);
    if (!view) throw new HiveError(ErrorCode.NotFound, `no node ${nodeId}`);
    return view;
  }

  async *logs(deploymentId: string, options: LogOptions): AsyncIterable<Uint8Array> {
    const d = this.deployments.get(deploymentId);
    if (!d) throw new HiveError(ErrorCode.NotFound, `no deployment ${deploymentId}`);
    if (!d.rec.nodeId) {
      // Not a peer that is down: there is no output to read yet (or any more).
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${deploymentId} has no node (${d.rec.pendingReason ?? "pending"}): it has no output to read`,
      );
    }
    if (!this.provider.reachable(d.rec.nodeId)) {
      throw new HiveError(
        ErrorCode.Unavailable,
        `the runner of ${deploymentId} (${d.rec.nodeId}) is not connected`,
      );
    }
    yield* this.provider.logs(d.rec.nodeId, deploymentId, options);
  }

  async listDatasets(): Promise<DatasetView[]> {
    return datasetViews(this.views, await this.o.store.listDatasets());
  }

  /** Applies restored drain flags (after a restart). */
  async restoreDrains(): Promise<void> {
    this.drained = new Set(await this.o.store.listDraining());
  }

  // ---------------------------------------------------------------- live trading

  /** Fails a live strategy over to its warm standby on purpose (`hive failover`; LiveFailover). */
  async failover(layoutName: string, service: string): Promise<FailoverView> {
    return this.live.failover(layoutName, findService(findLayout(this.layouts, layoutName), service));
  }

  /** The kill switch (`hive kill`): blocks new orders for the account and cancels its resting ones. */
  kill(account: string, reason: string, options: { force?: boolean } = {}): Promise<KillResult[]> {
    return this.gatewayOps.kill(account, reason, options);
  }

  /** Lifts the kill switch of an account. */
  unkill(account: string): Promise<void> {
    return this.gatewayOps.unkill(account);
  }

  /** Every account each gateway knows: who may trade it, positions, open orders. */
  accounts(account?: string): Promise<GatewayAccountView[]> {
    return this.gatewayOps.accounts(account);
  }

  /** `hive gateway reassign`: this orchestrator becomes the gateway's controller (gateway-operations.ts). */
  async reassignGateway(gateway: string, from: string, by: string): Promise<GatewayReassignView> {
    const view = await this.gatewayOps.reassign(gateway, from, by);
    // The activations the gateway refused wait WRONG_CONTROLLER_RETRY_MS; they may go now.
    this.live.retryNow();
    this.kick();
    return view;
  }

  /** The alerts raised about the gateways, per (gateway, reason), for the metric. */
  gatewayAlerts(): GatewayAlertCount[] {
    return this.o.gateways?.alerts.counts() ?? [];
  }

  /** Called for every order path opened after fencing (tests and the failover benchmark). */
  onActivation: ((activation: Activation) => void) | undefined;

  /** What runners' reports led to: heartbeats not acknowledged, stray order paths closed. */
  reportCounts(): RunnerReportCounts {
    return this.reports.counts;
  }

  /** Called for every heartbeat with its lag: ms from the runner sending it to the registry having it. */
  onHeartbeat: ((lagMs: number) => void) | undefined;

  /** Nodes drained before a restart; applied when their runner registers. */
  drained = new Set<string>();
}
