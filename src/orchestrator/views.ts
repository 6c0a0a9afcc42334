import type { ClusterState } from "../scheduler/index.ts";
import type { DeploymentView, LayoutView, NodeView } from "./control-plane.ts";
import { toNodeSpec, type NodeEntry } from "./registry.ts";
import type { LayoutState } from "./store/store-records.ts";

/** A registered node as the API shows it, with what is allocated on it. */
export function nodeView(
  entry: NodeEntry,
  cluster: ClusterState,
  silenceMs: number,
  deployments: number,
): NodeView {
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
 * something failed; `deploying` in between.
 */
export function layoutState(
  stored: LayoutState,
  deployments: readonly DeploymentView[],
  routed: boolean,
): LayoutView["state"] {
  if (stored === "stopping") return "stopping";
  const wanted = deployments.filter((d) => d.phase !== "stopping" && d.phase !== "stopped");
  if (wanted.some((d) => d.nodeId === null)) return "pending";
  if (wanted.some((d) => d.phase === "failed")) return "degraded";
  if (wanted.every((d) => d.phase === "running" || d.phase === "exited") && routed) return "running";
  return "deploying";
}
