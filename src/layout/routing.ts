/**
 * Routing tables for the runners' post offices: for every consumed socket of every instance, the
 * local endpoint the process connects to and the remote addresses its runner bridges it to.
 *
 * Pure: a function of the layout, the instances (with the addresses their runners returned) and
 * the run directory. Who is active or standby is decided elsewhere (the supervisor); here it
 * only selects which producers count.
 */
import { posix } from "node:path";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Layout, SocketPattern } from "../domain/index.ts";
import { formatEnd, indexServices, resolveWire, socketKey, type ResolvedEnd } from "./layout-graph.ts";

/** Whether an instance serves now (`active`) or is a warm spare (`standby`) to promote on failover. */
export type InstanceRole = "active" | "standby";

/** One running (or starting) instance of a service, as the supervisor knows it. */
export interface DeploymentInstance {
  readonly deploymentId: string;
  /** The service's name in the layout. */
  readonly service: string;
  readonly role: InstanceRole;
  readonly nodeId: string;
  /** Offered socket name → `tcp://ip:port`, as the runner returned from spawn. */
  readonly addresses: Readonly<Record<string, string>>;
}

/** How one consumed socket of one instance is bridged by its runner. */
export interface Route {
  readonly deploymentId: string;
  /** The consumed socket's name in the manifest. */
  readonly socket: string;
  readonly pattern: SocketPattern;
  /** The local endpoint the process connects to: see {@link localEndpoint}. */
  readonly local: string;
  /** The producers' TCP addresses, sorted; empty while no producer is active. */
  readonly remotes: readonly string[];
  /** For an order path to a gateway that runs CURVE: the gateway's public key (Z85). */
  readonly serverKey?: string;
}

/** Every runner's routes, by node id; a node appears only if it hosts at least one route. */
export type RoutingTables = ReadonlyMap<string, readonly Route[]>;

/** Where the runners keep their local sockets. */
export interface RoutingOptions {
  /** The runners' run directory, e.g. `/run/hive`. */
  readonly runDir: string;
  /**
   * The broker gateways the orchestrator knows, by name: where their orders socket listens and
   * their CURVE public key ("" for none). An orders socket routed to a gateway not listed here
   * gets a route with no remotes (the orchestrator reports the unknown name when applying).
   */
  readonly gateways?: ReadonlyMap<string, GatewayAddress>;
}

/** Where a broker gateway takes orders. */
export interface GatewayAddress {
  /** `tcp://ip:port` of its orders socket. */
  readonly orders: string;
  /** Its CURVE public key (Z85), or "" when it runs without CURVE. */
  readonly publicKey: string;
  /**
   * For a gateway that binds orders to nodes: the orders socket of each node it admits, by node
   * id (`tcp://ip:port`). When given, a node's order paths go to its own socket, and those of a
   * node not listed go nowhere (it hosts nothing fenced there); when absent, every node's go to
   * `orders`.
   */
  readonly nodeOrders?: ReadonlyMap<string, string>;
}

/** Where `nodeId`'s order paths to `gateway` go: its own orders socket, or the gateway's. */
function ordersRemotes(gateway: GatewayAddress | undefined, nodeId: string): string[] {
  if (gateway === undefined) return [];
  if (gateway.nodeOrders === undefined) return [gateway.orders];
  const own = gateway.nodeOrders.get(nodeId);
  return own === undefined ? [] : [own];
}

/**
 * The local endpoint of a consumed socket: `ipc://<runDir>/strategies/<deploymentId>/<socket>`.
 * The deployment id becomes a directory name, so one that could leave that directory is refused.
 * Not checked here: a Unix socket path is limited to about 107 bytes, which a long run directory,
 * a UUID and a long socket name together can pass; the runner that binds it must report that.
 */
export function localEndpoint(runDir: string, deploymentId: string, socket: string): string {
  for (const [what, part] of [
    ["deployment id", deploymentId],
    ["socket name", socket],
  ] as const) {
    if (part === "" || part === "." || part === ".." || /[/\0]/.test(part)) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `${what} ${JSON.stringify(part)} cannot name a directory under ${runDir}/strategies: expected a name without '/'`,
      );
    }
  }
  return `ipc://${posix.join(runDir, "strategies", deploymentId, socket)}`;
}

/**
 * Computes every runner's routing table.
 *
 * Every instance, active or standby, gets a route for each socket it consumes: a standby must be
 * warm, so it receives market data like the active one, and its order path is closed by its
 * runner (which does not forward a standby's orders), not by routing it nowhere. That also means
 * a promotion changes no consumer routes. Only *active* producers are remotes: a standby producer
 * does not produce until it is promoted. A consumed socket with no wire (optional) or no active
 * producer still gets a route, with no remotes, so its local endpoint exists from the start.
 *
 * The layout must have passed `validateLayout`. Throws HiveError:
 *  - Internal when the input is inconsistent (a wire that does not resolve, an instance of a
 *    service not in the layout, a deployment id used twice): a bug in the caller;
 *  - FailedPrecondition when an active producer has no address for a wired socket. Dropping it
 *    silently would leave its consumers without data and no one told; the caller routes only
 *    instances whose spawn has returned their addresses.
 */
export function computeRoutes(
  layout: Layout,
  instances: readonly DeploymentInstance[],
  options: RoutingOptions,
): RoutingTables {
  const services = indexServices(layout);
  const producersOf = new Map<string, ResolvedEnd[]>();
  layout.wires.forEach((wire, w) => {
    const resolved = resolveWire(services, wire);
    if (resolved === undefined) {
      throw new HiveError(
        ErrorCode.Internal,
        `layout ${layout.name}: wires[${w}] does not resolve; validate it first`,
      );
    }
    append(producersOf, formatEnd(resolved.consumer), resolved.producer);
  });

  const byService = new Map<string, DeploymentInstance[]>();
  const ids = new Set<string>();
  for (const instance of instances) {
    if (!services.has(instance.service)) {
      throw new HiveError(
        ErrorCode.Internal,
        `deployment ${instance.deploymentId} runs service ${instance.service}, which layout ${layout.name} does not have`,
      );
    }
    if (ids.has(instance.deploymentId)) {
      throw new HiveError(ErrorCode.Internal, `deployment id ${instance.deploymentId} is given twice`);
    }
    ids.add(instance.deploymentId);
    append(byService, instance.service, instance);
  }

  const activeAddresses = (producer: ResolvedEnd): string[] =>
    (byService.get(producer.service.manifest.name) ?? [])
      .filter((p) => p.role === "active")
      .map((p) => {
        const address = p.addresses[producer.socket.name];
        if (address === undefined) {
          throw new HiveError(
            ErrorCode.FailedPrecondition,
            `active deployment ${p.deploymentId} of ${p.service} on node ${p.nodeId} has no address for its ` +
              `offered socket ${producer.socket.name}, which is wired (${formatEnd(producer)}); ` +
              `expected the tcp:// address its runner returned from spawn`,
          );
        }
        return address;
      });

  const toGateway = new Map<string, string>();
  for (const gateway of layout.gateways) {
    for (const end of gateway.orders) toGateway.set(socketKey(end.service, end.socket), gateway.name);
  }

  const byNode = new Map<string, Route[]>();
  for (const instance of instances) {
    const manifest = services.get(instance.service)?.manifest;
    for (const socket of manifest?.sockets.consumes ?? []) {
      const gatewayName = toGateway.get(socketKey(instance.service, socket.name));
      if (gatewayName !== undefined) {
        const gateway = options.gateways?.get(gatewayName);
        const route: Route = {
          deploymentId: instance.deploymentId,
          socket: socket.name,
          pattern: socket.pattern,
          local: localEndpoint(options.runDir, instance.deploymentId, socket.name),
          remotes: ordersRemotes(gateway, instance.nodeId),
          ...(gateway && gateway.publicKey !== "" ? { serverKey: gateway.publicKey } : {}),
        };
        append(byNode, instance.nodeId, route);
        continue;
      }
      const producers = producersOf.get(socketKey(instance.service, socket.name)) ?? [];
      const remotes = [...new Set(producers.flatMap(activeAddresses))].sort(compareStrings);
      const route: Route = {
        deploymentId: instance.deploymentId,
        socket: socket.name,
        pattern: socket.pattern,
        local: localEndpoint(options.runDir, instance.deploymentId, socket.name),
        remotes,
      };
      append(byNode, instance.nodeId, route);
    }
  }
  return sortTables(byNode);
}

/** Orders routes by (deploymentId, socket), the order of every table this module returns. */
export function compareRoutes(
  a: Pick<Route, "deploymentId" | "socket">,
  b: Pick<Route, "deploymentId" | "socket">,
) {
  return compareStrings(a.deploymentId, b.deploymentId) || compareStrings(a.socket, b.socket);
}

/** True when two routes would make a runner do the same thing. */
export function sameRoute(a: Route, b: Route): boolean {
  return (
    a.deploymentId === b.deploymentId &&
    a.socket === b.socket &&
    a.pattern === b.pattern &&
    a.local === b.local &&
    a.serverKey === b.serverKey &&
    a.remotes.length === b.remotes.length &&
    a.remotes.every((r, i) => r === b.remotes[i])
  );
}

/** Tables with nodes in id order and each node's routes sorted; nodes without routes dropped. */
export function sortTables(byNode: ReadonlyMap<string, readonly Route[]>): RoutingTables {
  const sorted = new Map<string, readonly Route[]>();
  for (const nodeId of [...byNode.keys()].sort(compareStrings)) {
    const routes = byNode.get(nodeId) ?? [];
    if (routes.length > 0) sorted.set(nodeId, [...routes].sort(compareRoutes));
  }
  return sorted;
}

/** Code-unit order, not locale order: a table must sort the same on every machine. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function append<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
