import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import {
  layoutSchema,
  parseYaml,
  ValidationError,
  type Layout,
  type ValidationIssue,
} from "../domain/index.ts";
import {
  computeRoutes,
  diffRoutes,
  validateLayout,
  type Route,
  type RoutingTables,
} from "../layout/index.ts";
import { ProcessState, type Register, type RunnerMessage } from "../protocol/index.ts";
import {
  ClusterState,
  explain,
  placeLayout,
  requestFromManifest,
  schedule,
  type Allocation,
  type Explanation,
} from "../scheduler/index.ts";
import type {
  ApplyResult,
  ControlPlane,
  FailoverView,
  GatewayAccountView,
  KillResult,
  DatasetView,
  DeploymentView,
  LayoutView,
  LogOptions,
  NodeView,
} from "./control-plane.ts";
import {
  deploymentView,
  isSettled,
  newDeploymentId,
  pendingDeployment,
  trades,
  type Deployment,
} from "./deployment.ts";
import type { Gateways } from "./gateways.ts";
import { activate, gatewaysOf, type Activation } from "./order-gate.ts";
import { gatewayIssues, gatewaysForAccount, marketDataSources, type AppliedLayout } from "./trading-rules.ts";
import { Registry, type LeaseOptions } from "./registry.ts";
import type { RunnerStreamHandler } from "./runner-service.ts";
import type { RunnerSession } from "./runner-session.ts";
import { ClusterRuntime, type ServiceProvider } from "./service-provider.ts";
import { restartDelayMs, spawnRequestFor, stableAfterMs, wantsRestart } from "./spawn-request.ts";
import type { DeploymentRecord, LayoutRecord } from "./store/store-records.ts";
import type { Store } from "./store/store.ts";
import { layoutState, nodeView } from "./views.ts";

/** Options of the orchestrator core. */
export interface OrchestratorCoreOptions {
  readonly store: Store;
  readonly log: Logger;
  readonly lease: LeaseOptions;
  /** Seed of the scheduler's tie break. */
  readonly seed?: number;
  /** Grace between SIGTERM and SIGKILL when a deployment is stopped. */
  readonly stopGraceMs?: number;
  readonly now?: () => number;
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
}

interface LayoutEntry {
  rec: LayoutRecord;
  layout: Layout;
  /** Per node, the routes each runner has acknowledged. */
  pushed: Map<string, readonly Route[]>;
}

/**
 * The orchestrator's brain around the pure cores: it keeps the registry of runners, turns applied
 * layouts into deployments, places them (all or nothing for an apply), asks runners to spawn them,
 * wires them (routing tables from the addresses runners answered, pushed as the smallest diff) and
 * drives every deployment to its desired state in a reconcile loop: restarts with backoff,
 * re-placement of work from lost nodes, stops. Desired state lives in the store, so a restarted
 * orchestrator re-adopts what runners report still running and restarts nothing healthy.
 */
export class Orchestrator implements ControlPlane, RunnerStreamHandler {
  readonly registry: Registry;
  private readonly layouts = new Map<string, LayoutEntry>();
  private readonly deployments = new Map<string, Deployment>();
  private readonly now: () => number;
  private reconciling = false;
  /** When the desired state was loaded (monotonic), and whether unseen nodes were checked since. */
  private loadedAt = 0;
  private unseenChecked = false;
  private closed = false;
  /** Store writes on their way, and retry timers: close() waits for the one, clears the other. */
  private readonly writes = new Set<Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Stops of unwanted processes on their way, by node/deployment. */
  private readonly stopping = new Set<string>();
  private again = false;
  private applying: Promise<unknown> = Promise.resolve();

  private readonly provider: ServiceProvider;

  constructor(private readonly o: OrchestratorCoreOptions) {
    this.now = o.now ?? (() => performance.now());
    this.registry = new Registry(o.lease, this.now);
    this.provider = o.provider?.(this.registry) ?? new ClusterRuntime(this.registry);
  }

  /** Loads the desired state from the store (after a restart: what was applied before). */
  async load(): Promise<void> {
    this.loadedAt = this.now();
    for (const rec of await this.o.store.listLayouts()) {
      // The source as applied is the truth; the stored spec is the schema's output, for readers.
      const layout = parseYaml(rec.source, `${rec.name} (as applied)`, layoutSchema).value;
      this.layouts.set(rec.name, { rec, layout, pushed: new Map<string, readonly Route[]>() });
    }
    for (const rec of await this.o.store.listDeployments()) {
      const manifest = this.layouts.get(rec.layout)?.layout.services.find((s) => s.name === rec.service);
      if (!manifest) continue;
      // Until its runner reports it, a deployment that was placed is assumed to be starting; one
      // that had finished for good (a backtest's clean exit) stays finished.
      const finished = rec.lastExit?.code === 0 && !wantsRestart(manifest.restart, 0);
      this.deployments.set(rec.id, {
        ...pendingDeployment(rec, manifest),
        phase: finished ? "exited" : rec.nodeId ? "starting" : "pending",
      });
    }
    this.o.log.info(
      { layouts: this.layouts.size, deployments: this.deployments.size },
      "desired state loaded",
    );
  }

  // ---------------------------------------------------------------- runner streams

  onRegister(register: Register, session: RunnerSession): { accepted: true } {
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
    for (const l of this.layouts.values()) l.pushed.delete(entry.id);
    const reported = new Set(register.runningDeployments.map((d) => d.deploymentId));
    for (const r of register.runningDeployments) {
      const d = this.deployments.get(r.deploymentId);
      // Re-adopt only what is wanted AND placed on this node: a node that comes back after its
      // work was placed elsewhere must not take it back (two copies, one of them unseen).
      if (d && d.rec.desired === "running" && d.rec.nodeId === entry.id && !d.inFlight) {
        d.phase = "running";
        d.runningSince = this.now();
        d.pid = r.status?.pid ?? null;
        this.update(d, {
          addresses: Object.fromEntries(r.addresses.map((a) => [a.socketName, a.address])),
          pendingReason: undefined,
        });
        // The runner closed its order paths when it lost us (self-fencing): the active's is
        // opened again by the next pass, after the gateway is (re-)fenced to it.
        d.gate = "closed";
      } else {
        this.stopUnwanted(entry.id, session, r.deploymentId);
      }
    }
    for (const d of this.deployments.values()) {
      if (
        d.rec.nodeId === entry.id &&
        !reported.has(d.rec.id) &&
        (d.phase === "running" || d.phase === "starting") &&
        !d.inFlight
      ) {
        this.exited(d, { code: null, signal: null, reason: "not running when its runner registered" });
      }
    }
    this.kick();
    return { accepted: true };
  }

  onMessage(nodeId: string, session: RunnerSession, message: RunnerMessage): void {
    const m = message.message;
    if (m.case === "heartbeat") {
      const entry = this.registry.heartbeat(nodeId, session, m.value);
      if (!entry) return;
      if (m.value.sentAtUnixMs > 0n) this.onHeartbeat?.(Date.now() - Number(m.value.sentAtUnixMs));
      for (const p of m.value.processes) {
        const d = this.deployments.get(p.deploymentId);
        const alive = p.state === ProcessState.RUNNING || p.state === ProcessState.STARTING;
        if (alive && (!d || d.rec.nodeId !== nodeId || d.rec.desired !== "running")) {
          // Running where it is not wanted (moved away while this node was cut off, or unknown).
          if (!d?.inFlight) this.stopUnwanted(nodeId, session, p.deploymentId);
          continue;
        }
        if (!d || d.inFlight || d.rec.nodeId !== nodeId || d.phase !== "running") continue;
        if (
          p.state === ProcessState.EXITED ||
          p.state === ProcessState.FAILED ||
          p.state === ProcessState.KILLED
        ) {
          const reason = p.exitReason || "ended (its runner gave no reason)";
          this.exited(d, { code: p.exitCode ?? null, signal: p.signal || null, reason });
        }
      }
      return;
    }
    this.registry.touch(nodeId, session);
    if (!session.deliver(message) && m.case === "datasetStatus") {
      this.o.log.info(
        { nodeId, dataset: `${m.value.id}@${m.value.version}`, state: m.value.state },
        "dataset",
      );
    }
  }

  /** Stops a process a node runs that no deployment wants there; at most once per session. */
  private stopUnwanted(nodeId: string, session: RunnerSession, deploymentId: string): void {
    const key = `${nodeId}/${deploymentId}`;
    if (this.stopping.has(key)) return;
    this.stopping.add(key);
    this.o.log.warn({ nodeId, deploymentId }, "stopping a process not wanted on this node");
    void session
      .stop(deploymentId, this.o.stopGraceMs ?? 5_000)
      .catch(() => undefined)
      .finally(() => this.stopping.delete(key));
  }

  onClose(nodeId: string, session: RunnerSession): void {
    this.registry.disconnected(nodeId, session);
    this.o.log.warn({ nodeId }, "runner stream ended");
  }

  // ---------------------------------------------------------------- apply and stop

  async applyLayout(source: string, fileName: string): Promise<ApplyResult> {
    const parsed = parseYaml(source, fileName, layoutSchema);
    const issues = [...validateLayout(parsed.value), ...this.gatewayIssues(parsed.value)];
    if (issues.length > 0) throw new ValidationError(issues.map((i) => parsed.locate(i)));
    // One apply at a time: each reads and writes the same desired state.
    const run = this.applying.then(() => this.apply(parsed.value, source));
    this.applying = run.catch(() => undefined);
    return run;
  }

  /**
   * What only the orchestrator can check in a layout: that the gateways it names are configured,
   * and that no account it trades is traded by a service of another layout.
   */
  private gatewayIssues(layout: Layout): ValidationIssue[] {
    return gatewayIssues(layout, this.o.gateways?.names() ?? [], this.applied());
  }

  /** The applied layouts, as the trading rules see them. */
  private applied(): AppliedLayout[] {
    return [...this.layouts.values()].map((l) => ({
      name: l.rec.name,
      layout: l.layout,
      stopping: l.rec.state === "stopping",
    }));
  }

  private async apply(layout: Layout, source: string): Promise<ApplyResult> {
    const previous = this.layouts.get(layout.name);
    const before = new Map((previous?.layout.services ?? []).map((s) => [s.name, JSON.stringify(s)]));
    const added: string[] = [];
    const changed: string[] = [];
    const unchanged: string[] = [];
    for (const s of layout.services) {
      const old = before.get(s.name);
      if (old === undefined) added.push(s.name);
      else if (old !== JSON.stringify(s)) changed.push(s.name);
      else unchanged.push(s.name);
    }
    const removed = [...before.keys()].filter((name) => !layout.services.some((s) => s.name === name));
    const generation = (previous?.rec.generation ?? 0) + 1;
    const rec: LayoutRecord = {
      name: layout.name,
      source,
      spec: layout,
      generation,
      appliedAt: new Date().toISOString(),
      state: "active",
    };
    // Old instances of changed and removed services are stopped; unchanged ones keep running.
    const retire = new Set([...changed, ...removed]);
    const writes: DeploymentRecord[] = [];
    for (const d of this.deployments.values()) {
      if (d.rec.layout === layout.name && retire.has(d.rec.service) && d.rec.desired === "running") {
        d.rec = { ...d.rec, desired: "stopped" };
        writes.push(d.rec);
      }
    }
    // Unchanged instances follow the new manifest objects.
    for (const d of this.deployments.values()) {
      if (d.rec.layout !== layout.name) continue;
      const m = layout.services.find((s) => s.name === d.rec.service);
      if (m && unchanged.includes(m.name)) d.manifest = m;
    }
    const fresh = this.createDeployments(layout, [...added, ...changed], generation);
    writes.push(...fresh.map((d) => d.rec));
    const entry: LayoutEntry = {
      rec,
      layout,
      pushed: previous?.pushed ?? new Map<string, readonly Route[]>(),
    };
    this.layouts.set(layout.name, entry);
    await this.o.store.putLayout(rec);
    await this.o.store.putDeployments(writes);
    this.o.log.info({ layout: layout.name, generation, added, changed, removed }, "layout applied");
    this.kick();
    return { layout: layout.name, generation, added, changed, removed, unchanged };
  }

  /** New deployments for services of a layout, placed all or nothing (pending with the reason if not). */
  private createDeployments(layout: Layout, services: readonly string[], generation: number): Deployment[] {
    const manifests = layout.services.filter((s) => services.includes(s.name));
    if (manifests.length === 0) return [];
    const items = manifests.map((m) => ({
      service: m.name,
      request: requestFromManifest(m, { catalogue: layout.datasets, key: `${layout.name}/${m.name}` }),
      standby: m.standby,
    }));
    const decision = placeLayout(this.clusterState(), items, { seed: this.o.seed ?? 1 });
    const out: Deployment[] = [];
    for (const m of manifests) {
      // Epochs are taken when an active's order path opens (order-gate.ts), not here.
      const epoch = 0n;
      for (let replica = -1; replica < m.standby; replica++) {
        const role = replica < 0 ? "active" : "standby";
        const r = Math.max(0, replica);
        const placed = decision.ok
          ? decision.placements.find((p) => p.service === m.name && p.role === role && p.replica === r)
          : undefined;
        const d = pendingDeployment(
          {
            id: newDeploymentId(layout.name, m.name, role, r),
            layout: layout.name,
            service: m.name,
            role,
            replica: r,
            generation,
            nodeId: placed?.nodeId ?? null,
            epoch,
            desired: "running",
            restarts: 0,
            createdAt: new Date().toISOString(),
            pendingReason: decision.ok ? undefined : decision.message,
          },
          m,
        );
        this.deployments.set(d.rec.id, d);
        out.push(d);
      }
    }
    return out;
  }

  stopLayout(name: string): Promise<void> {
    // Serialized with applies: both read and write the same desired state.
    const run = this.applying.then(() => this.stopNow(name));
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async stopNow(name: string): Promise<void> {
    const entry = this.layoutEntry(name);
    entry.rec = { ...entry.rec, state: "stopping" };
    await this.o.store.putLayout(entry.rec);
    const writes: DeploymentRecord[] = [];
    for (const d of this.deployments.values()) {
      if (d.rec.layout === name && d.rec.desired !== "stopped") {
        d.rec = { ...d.rec, desired: "stopped" };
        writes.push(d.rec);
      }
    }
    await this.o.store.putDeployments(writes);
    this.kick();
  }

  // ---------------------------------------------------------------- the reconcile loop

  /** Resolves once no reconcile pass or apply is running (for a clean close). */
  async settle(): Promise<void> {
    await this.applying;
    while (this.reconciling) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * Stops the orchestrator's own work for a clean shutdown: no more passes or retry timers, the
   * running apply and pass finish, and every store write already made is awaited, so the store
   * can be closed under nothing. Runners and their processes are not touched.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.settle();
    await Promise.allSettled([...this.writes]);
  }

  /** Asks for a reconcile pass soon (coalesced). */
  kick(): void {
    if (this.closed) return;
    if (this.reconciling) {
      this.again = true;
      return;
    }
    setImmediate(() => void this.reconcile());
  }

  /** One pass of driving every deployment towards its desired state. */
  async reconcile(): Promise<void> {
    if (this.closed) return;
    if (this.reconciling) {
      this.again = true;
      return;
    }
    this.reconciling = true;
    try {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    } catch (err) {
      this.o.log.error({ err }, "reconcile pass failed");
    } finally {
      this.reconciling = false;
    }
  }

  private async pass(): Promise<void> {
    for (const change of this.registry.tick()) {
      this.o.log.warn(change, "node health changed");
      if (change.to === "down") this.nodeLost(change.nodeId, "is down");
    }
    // After a restart, a node that placed deployments name but whose runner has not come back
    // within the restart grace is as lost as a down one (it never registered, so it can
    // never turn down).
    if (
      !this.unseenChecked &&
      this.now() - this.loadedAt > (this.o.restartGraceMs ?? this.o.lease.downAfterMs)
    ) {
      this.unseenChecked = true;
      const unseen = new Set(
        [...this.deployments.values()]
          .map((d) => d.rec.nodeId)
          .filter((n): n is string => n !== null && this.registry.find(n) === undefined),
      );
      for (const nodeId of unseen)
        this.nodeLost(nodeId, "has not come back since the orchestrator restarted");
    }
    this.placePending();
    const now = this.now();
    for (const d of this.deployments.values()) {
      if (d.inFlight) continue;
      if (d.rec.desired === "running") {
        if (
          d.rec.nodeId &&
          (d.phase === "pending" || d.phase === "exited" || d.phase === "failed") &&
          now >= d.notBefore
        ) {
          if (d.rec.pendingReason?.startsWith("gave up")) continue;
          if (
            trades(d) &&
            !this.provider.reachable(d.rec.nodeId) &&
            d.rec.pendingReason?.includes("fenced failover")
          )
            continue;
          if (d.phase === "exited" && !wantsRestart(d.manifest.restart, 0)) continue; // finished
          this.start(d);
        }
      } else if (d.phase === "running" || d.phase === "starting") {
        this.stop(d);
      } else if (d.phase !== "stopping") {
        this.forget(d);
      }
    }
    this.openGates();
    this.syncGateways();
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
      await this.pushRoutes(entry);
    }
  }

  /**
   * A node is lost: its deployments are placed again (a backtest elsewhere, data locality first),
   * except finished work and live strategies, which are never restarted cold elsewhere (the lost
   * copy may still be trading): fenced failover to a warm standby is what moves them (issue 5).
   */
  private nodeLost(nodeId: string, why: string): void {
    for (const d of this.deployments.values()) {
      if (d.rec.nodeId !== nodeId || d.rec.desired !== "running" || isSettled(d)) continue;
      d.attempt++; // an answer still on its way from the lost node no longer counts
      d.inFlight = false;
      d.pid = null;
      d.gate = "closed";
      if (trades(d)) {
        this.liveLost(d, `node ${nodeId} ${why}`);
        continue;
      }
      d.phase = "pending";
      this.update(d, { nodeId: null, addresses: {}, pendingReason: `node ${nodeId} ${why}` });
    }
  }

  /**
   * A live strategy's node is lost. An active fails over to a warm standby on a connected node:
   * the standby is promoted (its order path opens only after the gateway is fenced to it with a
   * new epoch, order-gate.ts), the lost instance is retired, and a new standby is placed. With no
   * standby, an active that trades through a gateway is started again elsewhere — safe for the
   * same reason: it trades only once the gateway refuses the lost copy. A live strategy with no
   * gateway to fence is never restarted cold elsewhere (the lost copy may still be trading).
   * A lost standby is simply placed again.
   */
  private liveLost(d: Deployment, why: string): void {
    const layout = this.layouts.get(d.rec.layout)?.layout;
    if (d.rec.role === "standby") {
      d.phase = "pending";
      this.update(d, { nodeId: null, addresses: {}, pendingReason: why });
      return;
    }
    const standby = this.bestStandby(d);
    if (standby) {
      this.promote(standby);
      d.phase = "failed";
      this.update(d, { desired: "stopped", pendingReason: `${why}; failed over to ${standby.rec.id}` });
      this.addStandby(d);
      this.o.log.warn(
        { from: d.rec.id, to: standby.rec.id, nodeId: standby.rec.nodeId, why },
        "failing over to the warm standby",
      );
    } else if (gatewaysOf(layout, d.rec.service).length > 0) {
      d.phase = "pending";
      d.freshEpoch = true;
      this.update(d, {
        nodeId: null,
        addresses: {},
        pendingReason: `${why}; no warm standby: starting it elsewhere, fenced before it trades`,
      });
    } else {
      d.phase = "failed";
      this.update(d, { pendingReason: `${why}; a live strategy moves only by fenced failover` });
    }
  }

  /** A running standby of the same service on a connected node, to promote; undefined if none. */
  private bestStandby(active: Deployment): Deployment | undefined {
    return [...this.deployments.values()]
      .filter(
        (s) =>
          s !== active &&
          s.rec.layout === active.rec.layout &&
          s.rec.service === active.rec.service &&
          s.rec.role === "standby" &&
          s.rec.desired === "running" &&
          s.phase === "running" &&
          !s.inFlight &&
          s.rec.nodeId !== null &&
          s.rec.nodeId !== active.rec.nodeId &&
          this.provider.reachable(s.rec.nodeId),
      )
      .sort((a, b) => a.rec.id.localeCompare(b.rec.id))[0];
  }

  /** Makes a standby the active; its order path opens on the next pass, after fencing. */
  private promote(s: Deployment): void {
    s.freshEpoch = true;
    s.gate = "closed";
    s.gateNotBefore = 0;
    this.update(s, { role: "active" });
  }

  /** A new standby in place of one that became the active or was lost; placed by the next pass. */
  private addStandby(like: Deployment): void {
    const siblings = [...this.deployments.values()].filter(
      (s) => s.rec.layout === like.rec.layout && s.rec.service === like.rec.service,
    );
    const replica = Math.max(0, ...siblings.map((s) => s.rec.replica)) + 1;
    const d = pendingDeployment(
      {
        id: newDeploymentId(like.rec.layout, like.rec.service, "standby", replica),
        layout: like.rec.layout,
        service: like.rec.service,
        role: "standby",
        replica,
        generation: like.rec.generation,
        nodeId: null,
        epoch: 0n,
        desired: "running",
        restarts: 0,
        createdAt: new Date().toISOString(),
        pendingReason: "a new standby, to be placed",
      },
      like.manifest,
    );
    this.deployments.set(d.rec.id, d);
    this.write(() => this.o.store.putDeployment(d.rec), "write");
  }

  /** Starts the activation of every running active live strategy whose order path is closed. */
  private openGates(): void {
    const now = this.now();
    for (const d of this.deployments.values()) {
      if (
        trades(d) &&
        d.rec.role === "active" &&
        d.rec.desired === "running" &&
        d.phase === "running" &&
        !d.inFlight &&
        d.gate === "closed" &&
        now >= d.gateNotBefore &&
        d.rec.nodeId !== null &&
        this.provider.reachable(d.rec.nodeId)
      ) {
        void this.activateNow(d).catch(() => undefined);
      }
    }
  }

  /**
   * Fences the gateways to `d` and then opens its order path (order-gate.ts). A failure closes
   * the gate again and retries after a short wait, on the pass that follows.
   */
  private async activateNow(d: Deployment): Promise<Activation> {
    d.gate = "opening";
    const attempt = d.attempt;
    const nodeId = d.rec.nodeId;
    const still = () =>
      !this.closed &&
      d.rec.role === "active" &&
      d.rec.desired === "running" &&
      d.phase === "running" &&
      d.attempt === attempt &&
      d.rec.nodeId === nodeId;
    try {
      const activation = await activate(
        {
          store: this.o.store,
          gateways: this.o.gateways,
          now: this.now,
          openPath: (node, id, epoch) => this.provider.orderPath(node, id, true, epoch),
          setEpoch: (dep, epoch) => this.update(dep, { epoch }),
        },
        d,
        this.layouts.get(d.rec.layout)?.layout,
        still,
      );
      d.gate = "open";
      this.o.log.info(
        {
          deploymentId: d.rec.id,
          nodeId,
          epoch: activation.epoch.toString(),
          fenced: activation.fenced.map((f) => `${f.gateway}/${f.account}`),
          cancelled: activation.fenced.reduce((n, f) => n + f.cancelled, 0),
          fencedAfterMs: Math.round(activation.fencedAfterMs),
        },
        "order path opened after fencing",
      );
      this.onActivation?.(activation);
      return activation;
    } catch (err) {
      if (d.gate === "opening") d.gate = "closed";
      d.gateNotBefore = this.now() + 250;
      this.o.log.warn(
        { deploymentId: d.rec.id, err: HiveError.from(err).message },
        "order path not opened; will retry",
      );
      this.retryLater(260);
      throw err;
    }
  }

  /** Asks for a pass after `ms`. */
  private retryLater(ms: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.kick();
    }, ms);
    this.timers.add(timer);
  }

  /** Keeps the gateways' market-data sources (the active producers layouts name) and runner keys pushed. */
  private syncGateways(): void {
    const gateways = this.o.gateways;
    if (!gateways) return;
    const instances = [...this.deployments.values()].map((d) => ({
      layout: d.rec.layout,
      service: d.rec.service,
      role: d.rec.role,
      running: d.phase === "running",
      addresses: d.rec.addresses ?? {},
    }));
    for (const [name, list] of marketDataSources(this.applied(), instances, gateways.names()))
      gateways.setMarketData(name, list);
    gateways.sync();
  }

  /** Places deployments that have no node (after a node loss, or once capacity appears). */
  private placePending(): void {
    const pending = [...this.deployments.values()].filter(
      (d) => d.rec.desired === "running" && d.rec.nodeId === null,
    );
    if (pending.length === 0) return;
    const cluster = this.clusterState();
    pending.sort((a, b) =>
      a.rec.role === b.rec.role ? a.rec.id.localeCompare(b.rec.id) : a.rec.role === "active" ? -1 : 1,
    );
    for (const d of pending) {
      const layout = this.layouts.get(d.rec.layout)?.layout;
      const siblings = [...this.deployments.values()]
        .filter(
          (s) =>
            s !== d &&
            s.rec.layout === d.rec.layout &&
            s.rec.service === d.rec.service &&
            s.rec.desired === "running",
        )
        .flatMap((s) => (s.rec.nodeId ? [s.rec.nodeId] : []));
      const request = requestFromManifest(d.manifest, {
        catalogue: layout?.datasets ?? [],
        key: `${d.rec.layout}/${d.rec.service}#${d.rec.role}-${d.rec.replica}`,
        avoidNodes: siblings,
      });
      const decision = schedule(cluster, request, { seed: this.o.seed ?? 1 });
      if (decision.ok) {
        cluster.reserve(decision.node, request.demand, true);
        this.update(d, { nodeId: decision.nodeId, pendingReason: undefined });
        this.o.log.info({ deploymentId: d.rec.id, nodeId: decision.nodeId }, "placed");
      } else if (d.rec.pendingReason !== decision.message) {
        this.update(d, { pendingReason: decision.message });
      }
    }
  }

  private start(d: Deployment): void {
    const nodeId = d.rec.nodeId;
    if (!nodeId || !this.provider.reachable(nodeId)) return;
    const layout = this.layouts.get(d.rec.layout)?.layout;
    d.inFlight = true;
    d.phase = "starting";
    const attempt = ++d.attempt;
    const request = spawnRequestFor(
      d.manifest,
      { deploymentId: d.rec.id, layout: d.rec.layout, role: d.rec.role, epoch: d.rec.epoch },
      layout?.datasets ?? [],
    );
    this.provider
      .spawn(nodeId, request)
      .then((outcome) => {
        if (d.attempt !== attempt) return; // a newer attempt, or the node was lost meanwhile
        d.inFlight = false;
        if (d.rec.desired !== "running") {
          this.kick();
          return;
        }
        if (outcome.ok) {
          d.gate = "closed";
          d.phase = "running";
          d.runningSince = this.now();
          d.pid = outcome.pid;
          this.update(d, { addresses: { ...outcome.addresses }, pendingReason: undefined });
          this.o.log.info({ deploymentId: d.rec.id, nodeId, pid: outcome.pid }, "running");
        } else {
          this.exited(d, { code: null, signal: null, reason: `spawn failed: ${outcome.reason}` });
        }
      })
      .catch((err: unknown) => {
        if (d.attempt !== attempt) return;
        d.inFlight = false;
        this.exited(d, { code: null, signal: null, reason: `spawn failed: ${HiveError.from(err).message}` });
      });
  }

  /** Records an exit and applies the restart policy. */
  private exited(d: Deployment, exit: { code: number | null; signal: string | null; reason: string }): void {
    const policy = d.manifest.restart;
    // A long, stable run forgives earlier crashes: maxRestarts bounds crash loops, not a lifetime.
    if (
      d.runningSince !== undefined &&
      this.now() - d.runningSince >= stableAfterMs(policy) &&
      d.rec.restarts > 0
    ) {
      d.rec = { ...d.rec, restarts: 0 };
    }
    d.runningSince = undefined;
    d.phase = exit.code === 0 ? "exited" : "failed";
    d.pid = null;
    const lastExit = { ...exit, at: new Date().toISOString() };
    if (d.rec.desired !== "running") {
      this.update(d, { lastExit });
    } else if (!wantsRestart(policy, exit.code)) {
      // Done (a backtest that finished) or given up: it stays listed with its exit, not restarted.
      this.update(d, {
        lastExit,
        pendingReason: exit.code === 0 ? undefined : "gave up: restart policy never",
      });
    } else if (d.rec.restarts >= policy.maxRestarts) {
      this.update(d, { lastExit, pendingReason: `gave up after ${d.rec.restarts} restarts` });
    } else {
      d.notBefore = this.now() + restartDelayMs(policy, d.rec.restarts);
      this.update(d, { lastExit, restarts: d.rec.restarts + 1 });
    }
    this.o.log.warn({ deploymentId: d.rec.id, ...exit, restarts: d.rec.restarts }, "deployment ended");
    this.kick();
    // A retry after the backoff needs a pass then, not only on the next event.
    this.retryLater(Math.max(0, d.notBefore - this.now()) + 5);
  }

  private stop(d: Deployment): void {
    const nodeId = d.rec.nodeId;
    if (!nodeId || !this.provider.reachable(nodeId)) {
      // Nothing can be asked of a node that is gone: its deployment is forgotten.
      const node = nodeId ? this.registry.find(nodeId) : undefined;
      if (!node || node.health === "down") this.forget(d);
      return;
    }
    d.inFlight = true;
    d.phase = "stopping";
    this.provider
      .stop(nodeId, d.rec.id, this.o.stopGraceMs ?? 5_000)
      .catch((err: unknown) =>
        this.o.log.warn({ deploymentId: d.rec.id, err: HiveError.from(err).message }, "stop failed"),
      )
      .finally(() => {
        d.inFlight = false;
        d.phase = "stopped";
        this.forget(d);
      });
  }

  private forget(d: Deployment): void {
    this.deployments.delete(d.rec.id);
    this.write(() => this.o.store.deleteDeployment(d.rec.id), "delete");
    this.kick();
  }

  /** Replaces a deployment's record and writes it to the store. */
  private update(d: Deployment, change: Partial<DeploymentRecord>): void {
    d.rec = { ...d.rec, ...change };
    this.write(() => this.o.store.putDeployment(d.rec), "write");
  }

  /** A store write that nobody waits for, tracked so close() can wait for it. */
  private write(work: () => Promise<unknown>, what: string): void {
    if (this.closed) return; // after close, memory is all that changes; the runners re-report
    const w = work().catch((err: unknown) => this.o.log.error({ err }, `store: ${what} failed`));
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
  }

  /** Computes a layout's routing tables from what runs, and pushes only what changed. */
  private async pushRoutes(entry: LayoutEntry): Promise<void> {
    const tables = this.wantedRoutes(entry);
    const updates = diffRoutes(entry.pushed, tables);
    await Promise.all(
      [...updates].map(async ([nodeId, update]) => {
        if (!this.provider.reachable(nodeId)) return;
        try {
          await this.provider.routes(nodeId, update);
          entry.pushed.set(nodeId, tables.get(nodeId) ?? []);
        } catch (err) {
          this.o.log.warn(
            { nodeId, err: HiveError.from(err).message },
            "route update not applied; will retry",
          );
        }
      }),
    );
  }

  /**
   * The routing tables a layout wants now: built from its instances that run where they are
   * wanted, with the addresses their runners answered. The one place both the route pushes and
   * the layout's state read them from.
   */
  private wantedRoutes(entry: LayoutEntry): RoutingTables {
    const instances = [...this.deployments.values()]
      .filter(
        (d) =>
          d.rec.layout === entry.rec.name &&
          d.phase === "running" &&
          d.rec.nodeId &&
          d.rec.desired === "running",
      )
      .map((d) => ({
        deploymentId: d.rec.id,
        service: d.rec.service,
        role: d.rec.role,
        nodeId: d.rec.nodeId ?? "",
        addresses: d.rec.addresses ?? {},
      }));
    return computeRoutes(entry.layout, instances, {
      runDir: "/run/hive",
      gateways: this.o.gateways?.addresses(),
    });
  }

  /** The cluster as the scheduler sees it: the registry's nodes and what is placed on them. */
  private clusterState(): ClusterState {
    const nodes = this.registry.snapshot();
    const known = new Set(nodes.map((n) => n.id));
    const allocations: Allocation[] = [];
    for (const d of this.deployments.values()) {
      if (!d.rec.nodeId || !known.has(d.rec.nodeId) || d.rec.desired !== "running") continue;
      const request = requestFromManifest(d.manifest);
      allocations.push({ nodeId: d.rec.nodeId, demand: request.demand, inFlight: d.phase !== "running" });
    }
    return new ClusterState(nodes, allocations);
  }

  // ---------------------------------------------------------------- views (ControlPlane)

  private layoutEntry(name: string): LayoutEntry {
    const entry = this.layouts.get(name);
    if (!entry) {
      const known = [...this.layouts.keys()].sort().join(", ") || "none";
      throw new HiveError(ErrorCode.NotFound, `no layout ${name} (applied: ${known})`);
    }
    return entry;
  }

  private layoutView(entry: LayoutEntry): LayoutView {
    const deployments = [...this.deployments.values()]
      .filter((d) => d.rec.layout === entry.rec.name)
      .map(deploymentView)
      .sort((a, b) => a.id.localeCompare(b.id));
    // Routed when every node has acknowledged exactly the routes it should have now.
    let routed = true;
    try {
      const want = this.wantedRoutes(entry);
      const nodes = new Set([...want.keys(), ...entry.pushed.keys()]);
      routed = [...nodes].every(
        (n) => JSON.stringify(entry.pushed.get(n) ?? []) === JSON.stringify(want.get(n) ?? []),
      );
    } catch (err) {
      this.o.log.error(
        { layout: entry.rec.name, err: HiveError.from(err).message },
        "routes cannot be computed",
      );
      routed = false;
    }
    return {
      name: entry.rec.name,
      generation: entry.rec.generation,
      appliedAt: entry.rec.appliedAt,
      state: layoutState(entry.rec.state, deployments, routed),
      deployments,
    };
  }

  listLayouts(): Promise<LayoutView[]> {
    return Promise.resolve([...this.layouts.values()].map((l) => this.layoutView(l)));
  }

  getLayout(name: string): Promise<LayoutView> {
    return Promise.resolve(this.layoutView(this.layoutEntry(name)));
  }

  listNodes(): Promise<NodeView[]> {
    const cluster = this.clusterState();
    return Promise.resolve(
      this.registry
        .list()
        .map((n) =>
          nodeView(
            n,
            cluster,
            this.registry.silence(n),
            [...this.deployments.values()].filter((d) => d.rec.nodeId === n.id).length,
          ),
        ),
    );
  }

  listDeployments(filter: { layout?: string; nodeId?: string } = {}): Promise<DeploymentView[]> {
    return Promise.resolve(
      [...this.deployments.values()]
        .filter(
          (d) =>
            (!filter.layout || d.rec.layout === filter.layout) &&
            (!filter.nodeId || d.rec.nodeId === filter.nodeId),
        )
        .map(deploymentView)
        .sort((a, b) => a.id.localeCompare(b.id)),
    );
  }

  explain(layout: string, service: string): Promise<Explanation> {
    const entry = this.layoutEntry(layout);
    const manifest = entry.layout.services.find((s) => s.name === service);
    if (!manifest) {
      const names = entry.layout.services.map((s) => s.name).join(", ");
      throw new HiveError(ErrorCode.NotFound, `no service ${service} in layout ${layout} (it has: ${names})`);
    }
    const request = requestFromManifest(manifest, {
      catalogue: entry.layout.datasets,
      key: `${layout}/${service}`,
    });
    return Promise.resolve(explain(this.clusterState(), request, { seed: this.o.seed ?? 1 }));
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
    if (!d.rec.nodeId || !this.provider.reachable(d.rec.nodeId)) {
      throw new HiveError(
        ErrorCode.Unavailable,
        `the runner of ${deploymentId} (${d.rec.nodeId ?? "no node"}) is not connected`,
      );
    }
    yield* this.provider.logs(d.rec.nodeId, deploymentId, options);
  }

  async listDatasets(): Promise<DatasetView[]> {
    const specs = new Map((await this.o.store.listDatasets()).map((s) => [`${s.id}@${s.version}`, s]));
    for (const l of this.layouts.values())
      for (const s of l.layout.datasets) specs.set(`${s.id}@${s.version}`, s);
    return [...specs.values()].map((s) => ({
      id: s.id,
      version: s.version,
      source: s.source,
      bytes: s.size,
      hotOn: this.registry
        .list()
        .filter((n) => n.hotDatasets.some((h) => h.id === s.id && h.version === s.version))
        .map((n) => n.id),
    }));
  }

  /** Applies restored drain flags (after a restart). */
  async restoreDrains(): Promise<void> {
    this.drained = new Set(await this.o.store.listDraining());
  }

  /**
   * Fails a live strategy over to its warm standby on purpose (`hive failover`): the active is
   * demoted to a standby (its order path closed), the standby promoted, the gateway fenced to it
   * with a new epoch, and only then its order path opened. Resolves once it is open.
   */
  async failover(layoutName: string, service: string): Promise<FailoverView> {
    const entry = this.layoutEntry(layoutName);
    const manifest = entry.layout.services.find((s) => s.name === service);
    if (!manifest) {
      const names = entry.layout.services.map((s) => s.name).join(", ");
      throw new HiveError(
        ErrorCode.NotFound,
        `no service ${service} in layout ${layoutName} (it has: ${names})`,
      );
    }
    const instances = [...this.deployments.values()].filter(
      (d) => d.rec.layout === layoutName && d.rec.service === service && d.rec.desired === "running",
    );
    const active = instances.find((d) => d.rec.role === "active");
    if (!active || !trades(active)) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${layoutName}/${service} is not a live strategy with an active instance; only those fail over`,
      );
    }
    const standby = this.bestStandby(active);
    if (!standby) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${layoutName}/${service} has no running standby on a connected node to fail over to ` +
          `(standby: ${manifest.standby} in the layout; see hive deployments)`,
      );
    }
    const started = this.now();
    // The demoted active's path closes now; the gateway fence below is what guarantees it.
    this.update(active, { role: "standby" });
    active.gate = "closed";
    if (active.rec.nodeId !== null && this.provider.reachable(active.rec.nodeId)) {
      this.provider.orderPath(active.rec.nodeId, active.rec.id, false, active.rec.epoch);
    }
    this.promote(standby);
    this.o.log.warn({ from: active.rec.id, to: standby.rec.id }, "manual failover");
    const lead = this.now() - started; // demotion and promotion, before the activation
    const activation = await this.activateNow(standby);
    return {
      layout: layoutName,
      service,
      from: active.rec.id,
      to: standby.rec.id,
      epoch: activation.epoch.toString(),
      fencedAfterMs: lead + activation.fencedAfterMs,
      openedAfterMs: lead + activation.openedAfterMs,
    };
  }

  /** The gateways that may hold `account`: those a layout's strategy trades it through, else all. */
  private gatewaysForAccount(account: string): string[] {
    const known = this.o.gateways?.names() ?? [];
    if (known.length === 0) {
      throw new HiveError(ErrorCode.FailedPrecondition, "this orchestrator has no gateways configured");
    }
    return gatewaysForAccount(account, this.applied(), known);
  }

  /** The kill switch (`hive kill`): blocks new orders for the account and cancels its resting ones. */
  async kill(account: string, reason: string): Promise<KillResult[]> {
    const out: KillResult[] = [];
    for (const name of this.gatewaysForAccount(account)) {
      const r = await this.gateway(name).kill(account, reason);
      out.push({ gateway: name, account, cancelled: r.cancelled });
    }
    this.o.log.warn({ account, reason, gateways: out.map((k) => k.gateway) }, "kill switch engaged");
    return out;
  }

  /** Lifts the kill switch of an account. */
  async unkill(account: string): Promise<void> {
    for (const name of this.gatewaysForAccount(account)) await this.gateway(name).unkill(account);
    this.o.log.warn({ account }, "kill switch lifted");
  }

  /** Every account each gateway knows: who may trade it, positions, open orders. */
  async accounts(account?: string): Promise<GatewayAccountView[]> {
    const out: GatewayAccountView[] = [];
    for (const [name, control] of this.o.gateways?.all() ?? []) {
      for (const view of await control.accounts(account)) out.push({ gateway: name, ...view });
    }
    return out;
  }

  private gateway(name: string) {
    const gateways = this.o.gateways;
    if (!gateways)
      throw new HiveError(ErrorCode.FailedPrecondition, "this orchestrator has no gateways configured");
    return gateways.control(name);
  }

  /** Called for every order path opened after fencing (tests and the failover benchmark). */
  onActivation: ((activation: Activation) => void) | undefined;

  /** Called for every heartbeat with its lag: ms from the runner sending it to the registry having it. */
  onHeartbeat: ((lagMs: number) => void) | undefined;

  /** Nodes drained before a restart; applied when their runner registers. */
  drained = new Set<string>();
}
