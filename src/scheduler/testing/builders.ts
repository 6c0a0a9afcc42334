/** Builders of nodes and requests for the scheduler's tests and benchmark. */
import { DEFAULT_LINK_BANDWIDTH, type HotDataset, type NodeSpec, type Pool } from "../../domain/index.ts";
import type { Demand, PlacementRequest } from "../request.ts";

const GiB = 2 ** 30;

/** A node with sensible defaults; override any field. */
export function node(
  id: string,
  pool: Pool,
  over: Partial<Omit<NodeSpec, "capacity">> & {
    cores?: number;
    memoryGiB?: number;
    exclusiveCores?: number;
    hot?: readonly HotDataset[];
    cpu?: number;
  } = {},
): NodeSpec {
  const cores = over.cores ?? 16;
  return {
    id,
    pool,
    tags: over.tags ?? (pool === "live" ? ["live_node"] : ["data_node"]),
    capacity: {
      cores,
      memoryBytes: (over.memoryGiB ?? 64) * GiB,
      exclusiveCores: over.exclusiveCores ?? Math.max(0, Math.floor(cores) - 1),
    },
    portRange: over.portRange ?? { first: 20000, last: 20099 },
    hotDatasets: over.hot ?? over.hotDatasets ?? [],
    load: over.load ?? { cpu: over.cpu ?? 0, memoryUsedBytes: 0 },
    state: over.state ?? "ready",
    draining: over.draining ?? false,
    linkBandwidthBytesPerSec: over.linkBandwidthBytesPerSec ?? DEFAULT_LINK_BANDWIDTH,
  };
}

/** A request with sensible defaults; override any field, or the demand's fields directly. */
export function request(
  pool: Pool,
  over: Partial<PlacementRequest> & Partial<Demand> & { memoryGiB?: number } = {},
): PlacementRequest {
  return {
    key: over.key ?? `svc-${pool}`,
    pool,
    demand: over.demand ?? {
      cores: over.cores ?? 1,
      memoryBytes: over.memoryBytes ?? (over.memoryGiB ?? 1) * GiB,
      exclusiveCores: over.exclusiveCores ?? 0,
      ports: over.ports ?? 0,
    },
    requiredTags: over.requiredTags ?? [],
    preferredTags: over.preferredTags ?? [],
    datasets: over.datasets ?? [],
    avoidNodes: over.avoidNodes ?? [],
  };
}

export { GiB };
