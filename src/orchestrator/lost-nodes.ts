/**
 * Lost nodes: a node whose runner went down, or (after an orchestrator restart) one that
 * deployments are placed on but whose runner has not come back within the restart grace. Their
 * deployments move on (placed again, or failed over: live-failover.ts).
 */
import type { MonotonicClock } from "../core/monotonic-clock.ts";
import { step } from "./deployment-lifecycle.ts";
import { disown, isSettled, trades, type Deployment } from "./deployment.ts";
import type { LayoutEntry } from "./layout-entry.ts";
import type { Registry } from "./registry.ts";
import { forgetNode } from "./route-sync.ts";
import type { DeploymentRecord } from "./store/store-records.ts";

/** What handling lost nodes needs of the orchestrator. */
export interface LostNodesDeps {
  readonly layouts: ReadonlyMap<string, LayoutEntry>;
  readonly deployments: ReadonlyMap<string, Deployment>;
  readonly registry: Pick<Registry, "find">;
  readonly now: MonotonicClock["now"];
  /** After a restart, how long a node deployments are placed on may take to come back. */
  readonly restartGraceMs: number;
  /** Replaces a deployment's record and writes it to the store. */
  update(d: Deployment, change: Partial<DeploymentRecord>): void;
  /** A live strategy's node is lost (LiveFailover.liveLost). */
  liveLost(d: Deployment, why: string): void;
}

/** Lost nodes and what becomes of their deployments (see the file comment). */
export class LostNodes {
  /** When the desired state was loaded (monotonic), and whether unseen nodes were checked since. */
  private loadedAt = 0;
  private unseenChecked = false;

  constructor(private readonly deps: LostNodesDeps) {}

  /** The desired state was (re)loaded now: the restart grace starts. */
  loaded(): void {
    this.loadedAt = this.deps.now();
  }

  /**
   * After a restart, a node that placed deployments name but whose runner has not come back
   * within the restart grace is as lost as a down one (it never registered, so it can never turn
   * down). Checked once, on the first pass after the grace.
   */
  checkUnseen(): void {
    if (this.unseenChecked || this.deps.now() - this.loadedAt <= this.deps.restartGraceMs) return;
    this.unseenChecked = true;
    const unseen = new Set(
      [...this.deps.deployments.values()]
        .map((d) => d.rec.nodeId)
        .filter((n): n is string => n !== null && this.deps.registry.find(n) === undefined),
    );
    for (const nodeId of unseen) this.lost(nodeId, "has not come back since the orchestrator restarted");
  }

  /**
   * A node is lost: its deployments are placed again (a backtest elsewhere, data locality first),
   * except finished work and live strategies, which are never restarted cold elsewhere (the lost
   * copy may still be trading): fenced failover to a warm standby is what moves them (issue 5).
   */
  lost(nodeId: string, why: string): void {
    // Its routes are gone with it: what it acknowledged no longer counts towards `running`
    // (it is pushed its routes afresh if it registers again).
    for (const l of this.deps.layouts.values()) forgetNode(l, nodeId);
    for (const d of this.deps.deployments.values()) {
      if (d.rec.nodeId !== nodeId || d.rec.desired !== "running" || isSettled(d)) continue;
      disown(d); // an answer still on its way from the lost node no longer counts
      d.pid = null;
      if (trades(d)) {
        this.deps.liveLost(d, `node ${nodeId} ${why}`);
        continue;
      }
      step(d, { type: "node-lost", outcome: "placed-again" });
      this.deps.update(d, { nodeId: null, addresses: {}, pendingReason: `node ${nodeId} ${why}` });
    }
  }
}
