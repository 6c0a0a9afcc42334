/**
 * What the orchestrator asks of the scheduler, as pure functions of its state: the cluster the
 * scheduler sees, an apply's new instances placed all or nothing, and the request that places
 * one pending instance away from its siblings. Recording the outcome is the orchestrator's.
 */
import type { Layout, ServiceManifest } from "../domain/index.ts";
import {
  ClusterState,
  placeLayout,
  requestFromManifest,
  type Allocation,
  type InstancePlacement,
  type PlacementRequest,
} from "../scheduler/index.ts";
import type { Logger } from "../core/logger.ts";
import { isSettled, newDeployment, type Deployment } from "./deployment.ts";
import type { LayoutEntry } from "./layout-entry.ts";
import type { Registry } from "./registry.ts";

/**
 * The orchestrator's state as placing reads it, shared by applies (layout-apply.ts), pending work
 * (pending-placement.ts) and the API's explanations (views.ts): one object, built once.
 */
export interface PlacementSource {
  /** The applied layouts, by name. */
  readonly layouts: ReadonlyMap<string, LayoutEntry>;
  /** Every deployment, by id. */
  readonly deployments: ReadonlyMap<string, Deployment>;
  readonly log: Logger;
  /** Seed of the scheduler's tie break, for every placement and explanation. */
  readonly seed: number;
  /** The cluster as the scheduler sees it now. */
  clusterState(): ClusterState;
}

/**
 * The cluster as the scheduler sees it: the registry's nodes and what is placed on them. Settled
 * work (a backtest that finished, a service given up on) holds nothing: its process is gone and it
 * will not start again, so its cores and memory are free for the next placement. An instance being
 * stopped (a re-apply's old one, in its grace period) holds what it has until its process is gone:
 * its pinned cores, memory and ports are still in use on the node.
 */
export function clusterState(registry: Registry, deployments: Iterable<Deployment>): ClusterState {
  const nodes = registry.snapshot();
  const known = new Set(nodes.map((n) => n.id));
  const allocations: Allocation[] = [];
  for (const d of deployments) {
    if (!d.rec.nodeId || !known.has(d.rec.nodeId) || isSettled(d)) continue;
    if (d.rec.desired !== "running" && !mayHoldProcess(d)) continue;
    const request = requestFromManifest(d.manifest);
    allocations.push({ nodeId: d.rec.nodeId, demand: request.demand, inFlight: d.phase !== "running" });
  }
  return new ClusterState(nodes, allocations);
}

/** Whether a process of `d` may be alive on its node: started, starting, or not yet stopped. */
function mayHoldProcess(d: Deployment): boolean {
  return d.inFlight || d.phase === "running" || d.phase === "starting" || d.phase === "stopping";
}

/** What the scheduler is asked for a service of a layout: by apply, and by `explain` (the same). */
export function serviceRequest(layout: Layout, manifest: ServiceManifest): PlacementRequest {
  return requestFromManifest(manifest, {
    catalogue: layout.datasets,
    key: `${layout.name}/${manifest.name}`,
  });
}

/**
 * New deployments (each active, and each standby) for services of a layout, placed all or nothing
 * on `cluster`: if anything cannot be placed, every one is pending with the scheduler's reason.
 */
export function newDeployments(
  layout: Layout,
  services: readonly string[],
  generation: number,
  cluster: ClusterState,
  seed: number,
): Deployment[] {
  const manifests = layout.services.filter((s) => services.includes(s.name));
  if (manifests.length === 0) return [];
  const items = manifests.map((m) => ({
    service: m.name,
    request: serviceRequest(layout, m),
    standby: m.standby,
  }));
  const decision = placeLayout(cluster, items, { seed });
  const out: Deployment[] = [];
  for (const m of manifests) {
    for (let replica = -1; replica < m.standby; replica++) {
      const role = replica < 0 ? "active" : "standby";
      const r = Math.max(0, replica);
      const placed = decision.ok
        ? decision.placements.find((p) => p.service === m.name && p.role === role && p.replica === r)
        : undefined;
      out.push(
        newDeployment({ layout: layout.name, generation, role, replica: r }, m, {
          nodeId: placed?.nodeId ?? null,
          pendingReason: decision.ok ? undefined : decision.message,
        }),
      );
    }
  }
  return out;
}

/**
 * The request that places a deployment without a node (after a node loss, or once capacity
 * appears): away from the nodes its siblings (the other instances of its service) are on.
 * `siblings` is {@link siblingNodes} of the deployments, made once for many requests.
 */
export function pendingRequest(
  d: Deployment,
  layout: Layout | undefined,
  siblings: SiblingNodes,
): PlacementRequest {
  const avoid = (siblings.get(serviceKey(d)) ?? []).filter((s) => s.id !== d.rec.id).map((s) => s.nodeId);
  return requestFromManifest(d.manifest, {
    catalogue: layout?.datasets ?? [],
    key: `${d.rec.layout}/${d.rec.service}#${d.rec.role}-${d.rec.replica}`,
    avoidNodes: avoid,
  });
}

/** For each service of each layout, the placed instances wanted running, with their nodes. */
export type SiblingNodes = ReadonlyMap<string, readonly { id: string; nodeId: string }[]>;

/** The {@link SiblingNodes} of a set of deployments: one pass over them. */
export function siblingNodes(
  deployments: Iterable<Deployment>,
): Map<string, { id: string; nodeId: string }[]> {
  const out = new Map<string, { id: string; nodeId: string }[]>();
  for (const s of deployments) {
    if (s.rec.desired !== "running" || s.rec.nodeId === null) continue;
    const key = serviceKey(s);
    out.set(key, [...(out.get(key) ?? []), { id: s.rec.id, nodeId: s.rec.nodeId }]);
  }
  return out;
}

/** Records that `d` was just placed on `nodeId`, for the requests of its siblings after it. */
export function addSibling(
  siblings: Map<string, { id: string; nodeId: string }[]>,
  d: Deployment,
  nodeId: string,
): void {
  const key = serviceKey(d);
  siblings.set(key, [...(siblings.get(key) ?? []), { id: d.rec.id, nodeId }]);
}

function serviceKey(d: Deployment): string {
  return `${d.rec.layout}\0${d.rec.service}`;
}

/**
 * The deployments without a node, split by how they are placed. A layout generation none of whose
 * instances has a node (an apply that did not fit, or one that lost every node it had) is placed
 * as it was applied: together, all or nothing, the hardest first (`together`, one list per
 * generation). An instance that lost its node while its siblings of the same generation run is
 * placed on its own, away from them (`single`).
 */
export function pendingGroups(deployments: Iterable<Deployment>): {
  together: Deployment[][];
  single: Deployment[];
} {
  const byGeneration = new Map<string, Deployment[]>();
  for (const d of deployments) {
    if (d.rec.desired !== "running") continue;
    const key = `${d.rec.layout}\0${d.rec.generation}`;
    byGeneration.set(key, [...(byGeneration.get(key) ?? []), d]);
  }
  const together: Deployment[][] = [];
  const single: Deployment[] = [];
  for (const group of byGeneration.values()) {
    const unplaced = group.filter((d) => d.rec.nodeId === null);
    if (unplaced.length === 0) continue;
    if (unplaced.length === group.length && wholeServices(group)) together.push(group);
    else single.push(...unplaced);
  }
  single.sort((a, b) =>
    a.rec.role === b.rec.role ? a.rec.id.localeCompare(b.rec.id) : a.rec.role === "active" ? -1 : 1,
  );
  return { together, single };
}

/** Whether every service of `group` has exactly one active (the shape placeLayout places). */
function wholeServices(group: readonly Deployment[]): boolean {
  const actives = new Map<string, number>();
  for (const d of group) {
    actives.set(d.rec.service, (actives.get(d.rec.service) ?? 0) + (d.rec.role === "active" ? 1 : 0));
  }
  return [...actives.values()].every((n) => n === 1);
}

/**
 * Places a `together` group of {@link pendingGroups} on `cluster` as an apply does: every instance,
 * or none with the refusal of the first that did not fit. Each standby of a service maps to the
 * placement of the same rank (standbys in replica order).
 */
export function placeTogether(
  layout: Layout,
  group: readonly Deployment[],
  cluster: ClusterState,
  seed: number,
): { ok: true; placements: Map<Deployment, InstancePlacement> } | { ok: false; message: string } {
  const services = [...new Set(group.map((d) => d.rec.service))];
  const items = services.map((service) => {
    const instances = group.filter((d) => d.rec.service === service);
    const manifest = instances[0]!.manifest;
    return {
      service,
      request: serviceRequest(layout, manifest),
      standby: instances.filter((d) => d.rec.role === "standby").length,
    };
  });
  const decision = placeLayout(cluster, items, { seed });
  if (!decision.ok) return { ok: false, message: decision.message };
  const placements = new Map<Deployment, InstancePlacement>();
  for (const service of services) {
    const instances = group.filter((d) => d.rec.service === service);
    const standbys = instances
      .filter((d) => d.rec.role === "standby")
      .sort((a, b) => a.rec.replica - b.rec.replica);
    for (const p of decision.placements.filter((x) => x.service === service)) {
      const d = p.role === "active" ? instances.find((x) => x.rec.role === "active") : standbys[p.replica];
      if (d) placements.set(d, p);
    }
  }
  return { ok: true, placements };
}
