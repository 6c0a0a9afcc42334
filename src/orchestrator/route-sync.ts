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

/**
 * Pushes to each reachable runner only what changed of `tables`, and records what it
 * acknowledged. Nothing here waits for a runner: each push is tracked per node (one at a time, so
 * every diff is taken against what that node acknowledged), and `settled` is called when it ends,
 * acknowledged or not; a node with a push still out is left for the pass that the end of that
 * push asks for. So a runner that is slow to answer (up to ROUTE_ACK_TIMEOUT_MS) holds up neither
 * the reconcile pass nor the other nodes' routes.
 */
export function pushRoutes(
  entry: LayoutEntry,
  tables: RoutingTables,
  provider: Pick<ServiceProvider, "reachable" | "routes">,
  log: Logger,
  settled: (acknowledged: boolean) => void,
): void {
  for (const [nodeId, update] of diffRoutes(entry.pushed, tables)) {
    if (entry.pushing.has(nodeId) || !provider.reachable(nodeId)) continue;
    let ended = (): void => undefined;
    const push = { done: new Promise<void>((resolve) => (ended = resolve)) };
    entry.pushing.set(nodeId, push);
    const routes = tables.get(nodeId) ?? [];
    // A push that is no longer the node's (the runner registered again meanwhile: it has no
    // routes, and everything is sent again) changes nothing when it ends.
    const mine = () => {
      ended();
      if (entry.pushing.get(nodeId) !== push) return false;
      entry.pushing.delete(nodeId);
      return true;
    };
    provider.routes(nodeId, update).then(
      () => {
        if (!mine()) return;
        entry.pushed.set(nodeId, routes);
        settled(true);
      },
      (err: unknown) => {
        if (!mine()) return;
        log.warn({ nodeId, err: HiveError.from(err).message }, "route update not applied; will retry");
        settled(false);
      },
    );
  }
}

/**
 * Resolves once `nodeId` has acknowledged the routes `want()` gives it, or a push to it failed,
 * or it is unreachable, or `ms` passed: `push()` starts what is missing (pushRoutes). For an
 * activation, which opens an order path only once its runner has the route to the gateway socket
 * its fence just admitted (order-gate.ts). Never rejects.
 */
export async function nodeRouted(
  entry: LayoutEntry,
  nodeId: string,
  want: () => RoutingTables,
  push: () => void,
  ms: number,
): Promise<void> {
  const end = performance.now() + ms;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!diffRoutes(entry.pushed, want()).has(nodeId)) return;
    push();
    const out = entry.pushing.get(nodeId);
    const left = end - performance.now();
    if (out === undefined || left <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([out.done, new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
    clearTimeout(timer);
  }
}

/** Forgets what a node acknowledged and any push still out to it (its runner registered again). */
export function forgetNode(entry: LayoutEntry, nodeId: string): void {
  entry.pushed.delete(nodeId);
  entry.pushing.delete(nodeId);
}

/** Whether every node has acknowledged exactly the routes it should have now (`want`). */
export function isRouted(entry: LayoutEntry, want: RoutingTables): boolean {
  return diffRoutes(entry.pushed, want).size === 0;
}
