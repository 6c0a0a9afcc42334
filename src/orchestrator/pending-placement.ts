/**
 * Placing pending work: deployments with no node (capacity appeared, or their node was lost) are
 * placed by the scheduler, in rotations under a time budget per pass. What is asked of the
 * scheduler is placement.ts; this file decides what is tried when.
 */
import { systemClock } from "../core/monotonic-clock.ts";
import { schedule, type ClusterState } from "../scheduler/index.ts";
import type { Deployment } from "./deployment.ts";
import {
  addSibling,
  pendingGroups,
  pendingRequest,
  placeTogether,
  siblingNodes,
  type PlacementSource,
} from "./placement.ts";
import type { DeploymentRecord } from "./store/store-records.ts";

/** What placing pending work needs of the orchestrator. */
export interface PendingPlacementDeps extends PlacementSource {
  /** How long one pass may spend placing (ms of real time, not the orchestrator's clock). */
  readonly budgetMs: number;
  /** Replaces a deployment's record and writes it to the store. */
  update(d: Deployment, change: Partial<DeploymentRecord>): void;
  /** Asks for a reconcile pass after `ms`. */
  later(ms: number): void;
}

/** Pending work and its placement rotations (see the file comment). */
export class PendingPlacement {
  /**
   * The pending work already tried in the current rotation (a deployment id, or a together
   * group's first id); a rotation ends when every piece has been tried.
   */
  private readonly tried = new Set<string>();

  constructor(private readonly deps: PendingPlacementDeps) {}

  /**
   * Places deployments that have no node (once capacity appears, or after a node loss): a layout
   * generation none of which is placed together, all or nothing, as its apply would; an instance
   * whose siblings run on its own (see pendingGroups). Pending work is tried in rotations, each
   * in that order (together groups first, the hardest first; actives before standbys). A pass
   * spends at most its budget (`placeBudgetMs`) on it: a backlog of thousands of pending backtests must not
   * hold the event loop (and the heartbeat acks behind it) for long, so a rotation the budget cut
   * short goes on at the next pass, soon, with what it has not tried yet. A finished rotation
   * asks for no pass: the next one starts with the next event or periodic kick, from the top.
   */
  place(): void {
    const { together, single } = pendingGroups(this.deps.deployments.values());
    const work: { key: string; group: readonly Deployment[]; single?: Deployment }[] = [
      ...together.map((group) => ({ key: group[0]!.rec.id, group })),
      ...single.map((d) => ({ key: d.rec.id, group: [d], single: d })),
    ];
    const untried = work.filter((item) => !this.tried.has(item.key));
    if (untried.length === 0) {
      this.tried.clear();
      return;
    }
    const cluster = this.deps.clusterState();
    const siblings = siblingNodes(this.deps.deployments.values());
    const deadline = systemClock.now() + this.deps.budgetMs;
    for (const [i, item] of untried.entries()) {
      if (i > 0 && systemClock.now() >= deadline) {
        this.deps.later(1); // the rest of the rotation on the next pass, soon
        return;
      }
      this.tried.add(item.key);
      if (item.single) this.placeOne(item.single, cluster, siblings);
      else this.placeGroup(item.group, cluster);
    }
    this.tried.clear();
  }

  private placeGroup(group: readonly Deployment[], cluster: ClusterState): void {
    const layout = this.deps.layouts.get(group[0]!.rec.layout)?.layout;
    if (!layout) return;
    const decision = placeTogether(layout, group, cluster, this.deps.seed);
    if (!decision.ok) {
      for (const d of group) {
        if (d.rec.pendingReason !== decision.message)
          this.deps.update(d, { pendingReason: decision.message });
      }
      return;
    }
    for (const [d, p] of decision.placements) {
      cluster.reserve(p.node, p.demand, true);
      this.deps.update(d, { nodeId: p.nodeId, pendingReason: undefined });
      this.deps.log.info({ deploymentId: d.rec.id, nodeId: p.nodeId }, "placed");
    }
  }

  private placeOne(
    d: Deployment,
    cluster: ClusterState,
    siblings: Map<string, { id: string; nodeId: string }[]>,
  ): void {
    const layout = this.deps.layouts.get(d.rec.layout)?.layout;
    const request = pendingRequest(d, layout, siblings);
    const decision = schedule(cluster, request, { seed: this.deps.seed });
    if (decision.ok) {
      cluster.reserve(decision.node, request.demand, true);
      addSibling(siblings, d, decision.nodeId);
      this.deps.update(d, { nodeId: decision.nodeId, pendingReason: undefined });
      this.deps.log.info({ deploymentId: d.rec.id, nodeId: decision.nodeId }, "placed");
    } else if (d.rec.pendingReason !== decision.message) {
      this.deps.update(d, { pendingReason: decision.message });
    }
  }
}
