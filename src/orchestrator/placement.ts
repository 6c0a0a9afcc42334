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
  type PlacementRequest,
} from "../scheduler/index.ts";
import { isSettled, newDeployment, type Deployment } from "./deployment.ts";
import type { Registry } from "./registry.ts";

/**
 * The cluster as the scheduler sees it: the registry's nodes and what is placed on them. Settled
 * work (a backtest that finished, a service given up on) holds nothing: its process is gone and it
 * will not start again, so its cores and memory are free for the next placement.
 */
export function clusterState(registry: Registry, deployments: Iterable<Deployment>): ClusterState {
  const nodes = registry.snapshot();
  const known = new Set(nodes.map((n) => n.id));
  const allocations: Allocation[] = [];
  for (const d of deployments) {
    if (!d.rec.nodeId || !known.has(d.rec.nodeId) || d.rec.desired !== "running" || isSettled(d)) continue;
    const request = requestFromManifest(d.manifest);
    allocations.push({ nodeId: d.rec.nodeId, demand: request.demand, inFlight: d.phase !== "running" });
  }
  return new ClusterState(nodes, allocations);
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
 */
export function pendingRequest(
  d: Deployment,
  layout: Layout | undefined,
  deployments: Iterable<Deployment>,
): PlacementRequest {
  const siblings = [...deployments]
    .filter(
      (s) =>
        s !== d &&
        s.rec.layout === d.rec.layout &&
        s.rec.service === d.rec.service &&
        s.rec.desired === "running",
    )
    .flatMap((s) => (s.rec.nodeId ? [s.rec.nodeId] : []));
  return requestFromManifest(d.manifest, {
    catalogue: layout?.datasets ?? [],
    key: `${d.rec.layout}/${d.rec.service}#${d.rec.role}-${d.rec.replica}`,
    avoidNodes: siblings,
  });
}
