/**
 * A layout's wiring as the orchestrator drives it: the routing tables it wants now, the smallest
 * diff of them pushed to each runner, and whether every runner has acknowledged what it should
 * have (the last condition of a layout being `running`).
 */
import { HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { computeRoutes, diffRoutes, type GatewayAddress, type RoutingTables } from "../layout/index.ts";
import type { Deployment } from "./deployment.ts";
import type { LayoutEntry } from "./layout-entry.ts";
import type { ServiceProvider } from "./service-provider.ts";

/**
 * The routing tables a layout wants now: built from its instances that run where they are
 * wanted, with the addresses their runners answered. The one place both the route pushes and
 * the layout's state read them from.
 */
export function wantedRoutes(
  entry: LayoutEntry,
  deployments: Iterable<Deployment>,
  gateways: ReadonlyMap<string, GatewayAddress> | undefined,
): RoutingTables {
  const instances = [...deployments]
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
  return computeRoutes(entry.layout, instances, { runDir: "/run/hive", gateways });
}

/** Pushes to each reachable runner only what changed of `tables`, and records what it acknowledged. */
export async function pushRoutes(
  entry: LayoutEntry,
  tables: RoutingTables,
  provider: Pick<ServiceProvider, "reachable" | "routes">,
  log: Logger,
): Promise<void> {
  const updates = diffRoutes(entry.pushed, tables);
  await Promise.all(
    [...updates].map(async ([nodeId, update]) => {
      if (!provider.reachable(nodeId)) return;
      try {
        await provider.routes(nodeId, update);
        entry.pushed.set(nodeId, tables.get(nodeId) ?? []);
      } catch (err) {
        log.warn({ nodeId, err: HiveError.from(err).message }, "route update not applied; will retry");
      }
    }),
  );
}

/** Whether every node has acknowledged exactly the routes it should have now (`want`). */
export function isRouted(entry: LayoutEntry, want: RoutingTables): boolean {
  const nodes = new Set([...want.keys(), ...entry.pushed.keys()]);
  return [...nodes].every(
    (n) => JSON.stringify(entry.pushed.get(n) ?? []) === JSON.stringify(want.get(n) ?? []),
  );
}
