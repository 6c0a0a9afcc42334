/**
 * The read-only views behind the HTTP API (`hive status`, `nodes`, `deployments`, `explain`,
 * `datasets`): plain objects computed from the orchestrator's state, which they never change.
 */
import { HiveError } from "../core/hive-error.ts";
import type { DatasetSpec } from "../domain/index.ts";
import type { RoutingTables } from "../layout/index.ts";
import { explain, type ClusterState } from "../scheduler/index.ts";
import type {
  DatasetView,
  DeploymentView,
  LayoutView,
  NodeView,
  ServiceExplanation,
} from "./control-plane.ts";
import { deploymentView, isSettled } from "./deployment.ts";
import { findLayout, findService, type LayoutEntry } from "./layout-entry.ts";
import {
  clusterState,
  pendingGroups,
  pendingRequest,
  placeTogether,
  serviceRequest,
  siblingNodes,
  type PlacementSource,
} from "./placement.ts";
import { toNodeSpec, type NodeEntry, type Registry } from "./registry.ts";
import { isRouted } from "./route-sync.ts";
import type { LayoutState } from "./store/store-records.ts";

/** What the views read of the orchestrator. */
export interface ViewSource extends PlacementSource {
  readonly registry: Registry;
  /** The routing tables a layout wants now (route-sync.ts); throws if they cannot be computed. */
  wantedRoutes(entry: LayoutEntry): RoutingTables;
}

/** An applied layout as the API shows it: its deployments, and its state. */
export function layoutView(s: ViewSource, entry: LayoutEntry): LayoutView {
  const own = [...s.deployments.values()].filter((d) => d.rec.layout === entry.rec.name);
  const deployments = own.map(deploymentView).sort((a, b) => a.id.localeCompare(b.id));
  // Completed: every deployment finished cleanly and none will start again (a backtest sweep).
  const completed = own.length > 0 && own.every((d) => d.phase === "exited" && isSettled(d));
  // Routed when every node has acknowledged exactly the routes it should have now.
  let routed = true;
  try {
    routed = isRouted(entry, s.wantedRoutes(entry));
  } catch (err) {
    s.log.error({ layout: entry.rec.name, err: HiveError.from(err).message }, "routes cannot be computed");
    routed = false;
  }
  return {
    name: entry.rec.name,
    generation: entry.rec.generation,
    appliedAt: entry.rec.appliedAt,
    state: layoutState(entry.rec.state, deployments, routed, completed),
    deployments,
  };
}

/** Every registered node as the API shows it, with what is allocated and placed on it. */
export function nodeViews(s: ViewSource): NodeView[] {
  const cluster = s.clusterState();
  return s.registry
    .list()
    .map((n) =>
      nodeView(
        n,
        cluster,
        s.registry.silence(n),
        [...s.deployments.values()].filter((d) => d.rec.nodeId === n.id).length,
      ),
    );
}

/** The deployments of a layout, of a node, or all, sorted by id. */
export function deploymentViews(
  s: ViewSource,
  filter: { layout?: string; nodeId?: string },
): DeploymentView[] {
  return [...s.deployments.values()]
    .filter(
      (d) =>
        (!filter.layout || d.rec.layout === filter.layout) &&
        (!filter.nodeId || d.rec.nodeId === filter.nodeId),
    )
    .map(deploymentView)
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Why a service of an applied layout goes where it goes, or why it waits (see ServiceExplanation). */
export function explainPlacement(s: ViewSource, layout: string, service: string): ServiceExplanation {
  const entry = findLayout(s.layouts, layout);
  const manifest = findService(entry, service);
  const own = [...s.deployments.values()]
    .filter((d) => d.rec.layout === layout && d.rec.service === service && d.rec.desired === "running")
    .sort((a, b) =>
      a.rec.role === b.rec.role ? a.rec.replica - b.rec.replica : a.rec.role === "active" ? -1 : 1,
    );
  const instances = own.map((d) => ({
    id: d.rec.id,
    role: d.rec.role,
    replica: d.rec.replica,
    nodeId: d.rec.nodeId,
    phase: d.phase,
  }));
  const waiting = own.find((d) => d.rec.nodeId === null && !isSettled(d));
  if (waiting) {
    const request = pendingRequest(waiting, entry.layout, siblingNodes(s.deployments.values()));
    const cluster = s.clusterState();
    const explained = {
      ...explain(cluster, request, { seed: s.seed }),
      instances,
      explained: waiting.rec.id,
    };
    // An instance of a generation placed all or nothing is placed with it or not at all.
    const group = pendingGroups(s.deployments.values()).together.find((g) => g.includes(waiting));
    const whole = group === undefined ? undefined : placeTogether(entry.layout, group, cluster, s.seed);
    return whole === undefined || whole.ok ? explained : { ...explained, waitsForLayout: whole.message };
  }
  const others = [...s.deployments.values()].filter((d) => !own.includes(d));
  const cluster = clusterState(s.registry, others);
  return { ...explain(cluster, serviceRequest(entry.layout, manifest), { seed: s.seed }), instances };
}

/**
 * The datasets of the stored catalogue and of the applied layouts (a layout's spec wins over the
 * stored one of the same version), with the nodes each is hot on.
 */
export function datasetViews(s: ViewSource, catalogue: readonly DatasetSpec[]): DatasetView[] {
  const specs = new Map(catalogue.map((spec) => [`${spec.id}@${spec.version}`, spec]));
  for (const l of s.layouts.values())
    for (const spec of l.layout.datasets) specs.set(`${spec.id}@${spec.version}`, spec);
  return [...specs.values()].map((spec) => ({
    id: spec.id,
    version: spec.version,
    source: spec.source,
    bytes: spec.size,
    hotOn: s.registry
      .list()
      .filter((n) => n.hotDatasets.some((h) => h.id === spec.id && h.version === spec.version))
      .map((n) => n.id),
  }));
}

/** A registered node as the API shows it, with what is allocated on it. */
function nodeView(entry: NodeEntry, cluster: ClusterState, silenceMs: number, deployments: number): NodeView {
  const spec = toNodeSpec(entry);
  const i = cluster.lookup(entry.id);
  return {
    id: entry.id,
    pool: spec.pool,
    tags: [...spec.tags],
    health: entry.health,
    draining: entry.draining,
    connected: entry.session?.open ?? false,
    capacity: { ...spec.capacity },
    allocated: {
      cores: i >= 0 ? (cluster.usedCores[i] ?? 0) : 0,
      memoryBytes: i >= 0 ? (cluster.usedMemory[i] ?? 0) : 0,
      exclusiveCores: i >= 0 ? (cluster.usedExclusive[i] ?? 0) : 0,
    },
    load: { ...entry.load },
    hotDatasets: entry.hotDatasets.map((d) => ({ ...d })),
    resourceLimits: entry.register.resourceLimits,
    unlimited: entry.register.unlimited,
    deployments,
    lastHeartbeatAgoMs: Math.round(silenceMs),
  };
}

/**
 * A layout's state from its deployments: `running` once every deployment that should run does
 * and every route is applied; `pending` while something cannot be placed; `degraded` when
 * something failed; `deploying` in between; `completed` once all of it finished for good (which
 * the caller knows: it sees the restart policies).
 */
function layoutState(
  stored: LayoutState,
  deployments: readonly DeploymentView[],
  routed: boolean,
  completed: boolean,
): LayoutView["state"] {
  if (stored === "stopping") return "stopping";
  if (completed) return "completed";
  const wanted = deployments.filter((d) => d.phase !== "stopping" && d.phase !== "stopped");
  if (wanted.some((d) => d.nodeId === null)) return "pending";
  if (wanted.some((d) => d.phase === "failed")) return "degraded";
  if (wanted.every((d) => d.phase === "running" || d.phase === "exited") && routed) return "running";
  return "deploying";
}
