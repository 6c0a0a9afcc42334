import type { DatasetSpec, Pool, ServiceManifest } from "../domain/index.ts";
import { portsNeeded } from "../domain/index.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";

/** The resources one placement takes from a node. */
export interface Demand {
  readonly cores: number;
  readonly memoryBytes: number;
  /** Whole cores pinned to the service alone. */
  readonly exclusiveCores: number;
  /** Ports from the node's range. */
  readonly ports: number;
}

/**
 * Cores a placement takes from its node. Pinned cores are whole cores taken out of the shared
 * pool, and the service's quota runs inside them, so a pinned service takes exactly its pinned
 * cores; any other takes its (possibly fractional) quota.
 */
export function coresTaken(d: Demand): number {
  return d.exclusiveCores > 0 ? d.exclusiveCores : d.cores;
}

/** A dataset the service needs, with its size, so locality can be costed. */
export interface DatasetNeed {
  readonly id: string;
  readonly version: string;
  readonly bytes: number;
}

/** What the scheduler is asked to place: one instance of one service. */
export interface PlacementRequest {
  /** A stable name for logs and seeding, e.g. `live-momentum/momentum#standby-0`. */
  readonly key: string;
  readonly pool: Pool;
  readonly demand: Demand;
  readonly requiredTags: readonly string[];
  readonly preferredTags: readonly { readonly tag: string; readonly weight: number }[];
  readonly datasets: readonly DatasetNeed[];
  /** Nodes this instance may not share (its active and sibling standbys). */
  readonly avoidNodes: readonly string[];
}

/** Options for {@link requestFromManifest}. */
export interface RequestOptions {
  /** Dataset catalogue entries, to learn sizes; a dataset missing from it costs 0 bytes. */
  readonly catalogue?: readonly DatasetSpec[];
  readonly key?: string;
  readonly avoidNodes?: readonly string[];
}

/** Builds a placement request from a validated manifest. */
export function requestFromManifest(
  manifest: ServiceManifest,
  options: RequestOptions = {},
): PlacementRequest {
  const catalogue = options.catalogue ?? [];
  return {
    key: options.key ?? manifest.name,
    pool: manifest.pool,
    demand: {
      cores: manifest.resources.cores,
      memoryBytes: manifest.resources.memoryBytes,
      exclusiveCores: manifest.resources.exclusiveCores,
      ports: portsNeeded(manifest),
    },
    requiredTags: manifest.tags.required,
    preferredTags: manifest.tags.preferred,
    datasets: manifest.datasets.map((ref) => {
      const spec = catalogue.find(
        (d) => d.id === ref.id && (ref.version === undefined || d.version === ref.version),
      );
      return { id: ref.id, version: ref.version ?? spec?.version ?? "1", bytes: spec?.size ?? 0 };
    }),
    avoidNodes: options.avoidNodes ?? [],
  };
}

/**
 * Rejects a request that no node could ever take, before any node is looked at. A request that
 * names no pool is refused here: partitioning is default-deny, there is no pool to fall back to.
 */
export function checkRequest(request: PlacementRequest): void {
  const bad = (field: string, expected: string, found: unknown) =>
    new HiveError(
      ErrorCode.InvalidArgument,
      `placement request ${request.key}: ${field}: found ${JSON.stringify(found)}, expected ${expected}`,
    );
  if ((request.pool as unknown) !== "live" && (request.pool as unknown) !== "backtest") {
    throw bad("pool", "live or backtest (a service must name its pool)", request.pool);
  }
  const d = request.demand;
  if (!(d.cores > 0)) throw bad("demand.cores", "a number of cores above zero", d.cores);
  if (!(d.memoryBytes > 0)) throw bad("demand.memoryBytes", "a size above zero", d.memoryBytes);
  if (!Number.isInteger(d.exclusiveCores) || d.exclusiveCores < 0) {
    throw bad("demand.exclusiveCores", "a whole number of cores", d.exclusiveCores);
  }
  if (d.exclusiveCores > 0 && d.cores > d.exclusiveCores) {
    throw bad(
      "demand.cores",
      `at most demand.exclusiveCores (${d.exclusiveCores}) for a pinned service`,
      d.cores,
    );
  }
  if (d.exclusiveCores > 0 && request.pool !== "live") {
    throw bad("demand.exclusiveCores", "0 outside the live pool", d.exclusiveCores);
  }
  if (!Number.isInteger(d.ports) || d.ports < 0) throw bad("demand.ports", "a whole number", d.ports);
}
