/**
 * Live strategies when their active must move, and the opening of every active's order path:
 * failover to a warm standby when a node is lost or on purpose (`hive failover`), and the
 * activation of each active, whose order path opens only after the gateways are fenced to it
 * (order-gate.ts). It keeps no state of its own: the deployments and layouts are the
 * orchestrator's, reached through {@link LiveFailoverDeps}.
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import type { Layout, ServiceManifest } from "../domain/index.ts";
import type { FailoverView } from "./control-plane.ts";
import { step } from "./deployment-lifecycle.ts";
import { newDeployment, trades, type Deployment } from "./deployment.ts";
import type { Change } from "./deployment-writes.ts";
import { WrongControllerError } from "../gateway/controller-record.ts";
import type { Gateways } from "./gateways.ts";
import { activate, gatewaysOf, type Activation } from "./order-gate.ts";
import type { ServiceProvider } from "./service-provider.ts";
import type { DeploymentRecord } from "./store/store-records.ts";
import type { Store } from "./store/store.ts";

/** What failover needs of the orchestrator. */
export interface LiveFailoverDeps {
  readonly store: Store;
  readonly gateways: Gateways | undefined;
  readonly provider: Pick<ServiceProvider, "reachable" | "orderPath">;
  readonly log: Logger;
  /** Every deployment, by id; new ones are added through `add`. */
  readonly deployments: ReadonlyMap<string, Deployment>;
  /** Monotonic ms. */
  readonly now: () => number;
  /** The applied layout of that name. */
  layout(name: string): Layout | undefined;
  /** Replaces a deployment's record and writes it to the store. */
  update(d: Deployment, change: Partial<DeploymentRecord>): void;
  /**
   * Replaces several records and adds new deployments, written to the store as one batch (all or
   * nothing): a crash between the halves of a role swap must not leave a service with no active,
   * or with two.
   */
  commit(changes: readonly Change[], added?: readonly Deployment[]): void;
  /** Whether the orchestrator is closed (an activation on its way then stops before opening). */
  closed(): boolean;
  /** Asks for a reconcile pass after `ms`. */
  retryLater(ms: number): void;
  /** Told of every order path opened after fencing. */
  activated(activation: Activation): void;
  /** Pushes a node's changed routes now and waits for them (order-gate.ts, step 3). */
  routed?(nodeId: string): Promise<void>;
  /** Whether this orchestrator knows a deployment id (order-gate.ts, `unknown-previous`). */
  knows?(deploymentId: string): boolean;
}

/**
 * How long an activation waits before its next attempt: a short wait after most failures; a long
 * one when another controller holds the gateway, which no retry changes until an operator acts.
 */
export const ACTIVATION_RETRY_MS = 250;
export const WRONG_CONTROLLER_RETRY_MS = 5_000;

/** Failover and order-path activation of live strategies (see the file comment). */
export class LiveFailover {
  constructor(private readonly deps: LiveFailoverDeps) {}

  /**
   * A live strategy's node is lost. An active fails over to a warm standby on a connected node:
   * the standby is promoted (its order path opens only after the gateway is fenced to it with a
   * new epoch, order-gate.ts), the lost instance is retired, and a new standby is placed. With no
   * standby, an active that trades through a gateway is started again elsewhere — safe for the
   * same reason: it trades only once the gateway refuses the lost copy. A live strategy with no
   * gateway to fence is neither promoted nor restarted elsewhere (the lost copy may still be
   * trading): it is failed, for a person to look at.
   * A lost standby is simply placed again.
   */
  liveLost(d: Deployment, why: string): void {
    const layout = this.deps.layout(d.rec.layout);
    if (d.rec.role === "standby") {
      step(d, { type: "node-lost", outcome: "placed-again" });
      this.deps.update(d, { nodeId: null, addresses: {}, pendingReason: why });
      return;
    }
    // A promotion moves the strategy too: with no gateway to fence, the lost copy may still be
    // sending, so a strategy that trades through none is neither promoted nor restarted.
    const fenced = gatewaysOf(layout, d.rec.service).length > 0;
    const standby = fenced ? this.bestStandby(d) : undefined;
    if (standby) {
      step(d, { type: "node-lost", outcome: "failed-over" });
      this.deps.commit(
        [
          this.promotion(standby),
          [d, { desired: "stopped", pendingReason: `${why}; failed over to ${standby.rec.id}` }],
        ],
        [this.newStandby(d)],
      );
      this.deps.log.warn(
        { from: d.rec.id, to: standby.rec.id, nodeId: standby.rec.nodeId, why },
        "failing over to the warm standby",
      );
    } else if (fenced) {
      step(d, { type: "node-lost", outcome: "placed-again" });
      // Epoch 0, durably: the copy started elsewhere takes a new epoch, so the gateway refuses
      // the lost copy's (id, epoch) even if this orchestrator restarts before it opens.
      this.deps.update(d, {
        nodeId: null,
        addresses: {},
        epoch: 0n,
        pendingReason: `${why}; no warm standby: starting it elsewhere, fenced before it trades`,
      });
    } else {
      step(d, { type: "node-lost", outcome: "stranded" });
      this.deps.update(d, {
        pendingReason: `${why}; a live strategy moves only by fenced failover, and this one trades through no gateway`,
      });
    }
  }

  /**
   * Fails a live strategy over to its warm standby on purpose (`hive failover`): the active is
   * demoted to a standby (its order path closed), the standby promoted, the gateway fenced to it
   * with a new epoch, and only then its order path opened. Resolves once it is open.
   */
  async failover(layoutName: string, manifest: ServiceManifest): Promise<FailoverView> {
    const service = manifest.name;
    const instances = [...this.deps.deployments.values()].filter(
      (d) => d.rec.layout === layoutName && d.rec.service === service && d.rec.desired === "running",
    );
    const active = instances.find((d) => d.rec.role === "active");
    if (!active || !trades(active)) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${layoutName}/${service} is not a live strategy with an active instance; only those fail over`,
      );
    }
    if (gatewaysOf(this.deps.layout(layoutName), service).length === 0) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${layoutName}/${service} trades through no gateway: nothing could fence its active, so it is ` +
          `not failed over (wire its orders socket to a gateway under the layout's gateways)`,
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
    const started = this.deps.now();
    // The demoted active's path closes now; the gateway fence below is what guarantees it.
    this.deps.commit([[active, step(active, { type: "demoted" })], this.promotion(standby)]);
    if (active.rec.nodeId !== null && this.deps.provider.reachable(active.rec.nodeId)) {
      this.deps.provider.orderPath(active.rec.nodeId, active.rec.id, false, active.rec.epoch);
    }
    this.deps.log.warn({ from: active.rec.id, to: standby.rec.id }, "manual failover");
    const lead = this.deps.now() - started; // demotion and promotion, before the activation
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

  /**
   * Lets every activation held back by a failure start on the next pass: what held it back (a
   * gateway another controller held) changed.
   */
  retryNow(): void {
    for (const d of this.deps.deployments.values())
      if (d.gate === "closed" && d.gateNotBefore > 0) step(d, { type: "retry-now" });
  }

  /** Starts the activation of every running active live strategy whose order path is closed. */
  openGates(): void {
    const now = this.deps.now();
    for (const d of this.deps.deployments.values()) {
      if (d.gate === "open" && d.rec.role === "active" && trades(d)) this.checkFences(d);
      if (
        trades(d) &&
        d.rec.role === "active" &&
        d.rec.desired === "running" &&
        d.phase === "running" &&
        !d.inFlight &&
        d.gate === "closed" &&
        now >= d.gateNotBefore &&
        d.rec.nodeId !== null &&
        this.deps.provider.reachable(d.rec.nodeId)
      ) {
        // A failure is logged and retried by activateNow itself; nobody waits for this one.
        void this.activateNow(d).catch(() => undefined);
      }
    }
  }

  /**
   * Closes the gate of an open active whose fence a gateway, read after the gate opened, no longer
   * holds as it should: no fence at all (the gateway lost its state directory), or the active's
   * own fence naming no node or another key than its node's (written before node binding, or
   * before its runner came back with a new key). Its orders would be refused `not-fenced` or
   * `wrong-node` for good. The activation that follows fences it again, at its epoch, naming its
   * node, then opens.
   */
  private checkFences(d: Deployment): void {
    const gateways = this.deps.gateways;
    const nodeId = d.rec.nodeId;
    if (!gateways || nodeId === null) return;
    const instance = { deploymentId: d.rec.id, epoch: d.rec.epoch, nodeId };
    for (const name of gatewaysOf(this.deps.layout(d.rec.layout), d.rec.service)) {
      const stale = d.manifest.accounts.filter((account) =>
        gateways.fenceStale(name, account, d.gateOpenedAt, instance),
      );
      if (stale.length === 0) continue;
      this.deps.log.warn(
        { deploymentId: d.rec.id, gateway: name, accounts: stale },
        "the gateway no longer fences these accounts to this instance on its node (state lost, or a fence from before node binding); fencing them again",
      );
      step(d, { type: "fence-lost" });
      return;
    }
  }

  /** A running standby of the same service on a connected node, to promote; undefined if none. */
  private bestStandby(active: Deployment): Deployment | undefined {
    return [...this.deps.deployments.values()]
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
          this.deps.provider.reachable(s.rec.nodeId),
      )
      .sort((a, b) => a.rec.id.localeCompare(b.rec.id))[0];
  }

  /**
   * The change that makes a standby the active, with epoch 0 so that it takes a new one; its
   * order path opens on the next pass, after fencing.
   */
  private promotion(s: Deployment): Change {
    return [s, { ...step(s, { type: "promoted" }), epoch: 0n }];
  }

  /** A new standby in place of one that became the active or was lost; placed by the next pass. */
  private newStandby(like: Deployment): Deployment {
    const siblings = [...this.deps.deployments.values()].filter(
      (s) => s.rec.layout === like.rec.layout && s.rec.service === like.rec.service,
    );
    const replica = Math.max(0, ...siblings.map((s) => s.rec.replica)) + 1;
    return newDeployment(
      { layout: like.rec.layout, generation: like.rec.generation, role: "standby", replica },
      like.manifest,
      { nodeId: null, pendingReason: "a new standby, to be placed" },
    );
  }

  /**
   * Fences the gateways to `d` and then opens its order path (order-gate.ts). A failure closes
   * the gate again and retries after a short wait, on the pass that follows.
   */
  private async activateNow(d: Deployment): Promise<Activation> {
    step(d, { type: "activation-started" });
    const attempt = d.attempt;
    const nodeId = d.rec.nodeId;
    const still = () =>
      !this.deps.closed() &&
      d.rec.role === "active" &&
      d.rec.desired === "running" &&
      d.phase === "running" &&
      d.attempt === attempt &&
      d.rec.nodeId === nodeId;
    try {
      const activation = await activate(
        {
          store: this.deps.store,
          gateways: this.deps.gateways,
          now: this.deps.now,
          openPath: (node, id, epoch) => this.deps.provider.orderPath(node, id, true, epoch),
          setEpoch: (dep, epoch) => this.deps.update(dep, { epoch }),
          routed: (nodeId) => this.deps.routed?.(nodeId) ?? Promise.resolve(),
          knows: (id) => this.deps.knows?.(id) ?? true,
        },
        d,
        this.deps.layout(d.rec.layout),
        still,
      );
      step(d, { type: "activation-succeeded", at: this.deps.now() });
      this.deps.log.info(
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
      this.deps.activated(activation);
      return activation;
    } catch (err) {
      const wait = err instanceof WrongControllerError ? WRONG_CONTROLLER_RETRY_MS : ACTIVATION_RETRY_MS;
      step(d, { type: "activation-failed", retryAt: this.deps.now() + wait });
      this.deps.log.warn(
        { deploymentId: d.rec.id, err: HiveError.from(err).message },
        "order path not opened; will retry",
      );
      this.deps.retryLater(wait + 10);
      throw err;
    }
  }
}
