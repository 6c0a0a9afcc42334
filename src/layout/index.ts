/** The layout engine: checks a layout's wiring, reads layout files, computes and diffs routing tables. */
export { validateLayout, assertValidLayout } from "./validate-layout.ts";
export { locateLayoutIssues, readLayoutFile, readManifestFile } from "./read-layout-file.ts";
export {
  computeRoutes,
  localEndpoint,
  compareRoutes,
  sameRoute,
  type DeploymentInstance,
  type GatewayAddress,
  type InstanceRole,
  type Route,
  type RoutingOptions,
  type RoutingTables,
} from "./routing.ts";
export {
  diffRoutes,
  applyRouteUpdate,
  applyRoutesDiff,
  type RouteRemoval,
  type RouteUpdate,
} from "./route-diff.ts";
