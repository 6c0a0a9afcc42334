/**
 * The smallest change between two sets of routing tables, per runner, and how a runner applies
 * it. After a move the orchestrator recomputes every table (cheap, pure) and pushes only this
 * diff, so a runner whose routes did not change hears nothing and its bridges are not touched.
 *
 * A route is identified on its node by (deploymentId, socket): a consumer that moves to another
 * node is a removal on the old node and an upsert on the new one.
 */
import { compareRoutes, sameRoute, sortTables, type Route, type RoutingTables } from "./routing.ts";

/** Names a route on a node. */
export interface RouteRemoval {
  readonly deploymentId: string;
  readonly socket: string;
}

/** What one runner must change: routes to add or replace, and routes to drop. */
export interface RouteUpdate {
  /** New or changed routes, each replacing any route with the same (deploymentId, socket); sorted. */
  readonly upserts: readonly Route[];
  /** Routes that no longer exist; sorted. */
  readonly removals: readonly RouteRemoval[];
}

/**
 * Per node, what turns `before` into `after`. Only nodes with a change appear, and an update never
 * repeats a route that is already right. A node missing from a table has no routes.
 */
export function diffRoutes(before: RoutingTables, after: RoutingTables): Map<string, RouteUpdate> {
  const nodes = [...new Set([...before.keys(), ...after.keys()])].sort();
  const diff = new Map<string, RouteUpdate>();
  for (const nodeId of nodes) {
    const old = new Map((before.get(nodeId) ?? []).map((r) => [routeKey(r), r]));
    const next = after.get(nodeId) ?? [];
    const nextKeys = new Set(next.map(routeKey));
    const upserts = next
      .filter((r) => {
        const was = old.get(routeKey(r));
        return was === undefined || !sameRoute(was, r);
      })
      .sort(compareRoutes);
    const removals = [...old.values()]
      .filter((r) => !nextKeys.has(routeKey(r)))
      .map((r) => ({ deploymentId: r.deploymentId, socket: r.socket }))
      .sort(compareRoutes);
    if (upserts.length > 0 || removals.length > 0) diff.set(nodeId, { upserts, removals });
  }
  return diff;
}

/**
 * One runner's routes after an update, sorted as computeRoutes sorts them. Removals are applied
 * before upserts, so a route both removed and upserted (never produced by diffRoutes) is kept.
 */
export function applyRouteUpdate(routes: readonly Route[], update: RouteUpdate): Route[] {
  const byKey = new Map(routes.map((r) => [routeKey(r), r]));
  for (const removal of update.removals) byKey.delete(routeKey(removal));
  for (const route of update.upserts) byKey.set(routeKey(route), route);
  return [...byKey.values()].sort(compareRoutes);
}

/** Whole tables after a diff, as the orchestrator keeps them; nodes left with no routes are dropped. */
export function applyRoutesDiff(
  tables: RoutingTables,
  diff: ReadonlyMap<string, RouteUpdate>,
): RoutingTables {
  const next = new Map<string, readonly Route[]>(tables);
  for (const [nodeId, update] of diff) next.set(nodeId, applyRouteUpdate(tables.get(nodeId) ?? [], update));
  return sortTables(next);
}

/** The identity of a route on its node; NUL cannot occur in either part. */
function routeKey(route: RouteRemoval): string {
  return `${route.deploymentId}\0${route.socket}`;
}
