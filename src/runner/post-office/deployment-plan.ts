/**
 * The post office's pure checks, shared by the real post office and its fake: which consumed
 * sockets get a local endpoint (and which bridge), and whether a route fits the deployment it
 * names. Nothing here binds, connects or touches the file system.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { SocketPattern } from "../../domain/index.ts";
import type { RouteRemoval } from "../../layout/route-diff.ts";
import { localEndpoint, type Route } from "../../layout/routing.ts";
import { Z85_KEY } from "../../core/z85.ts";
import { checkIpcPathLength, ipcPath } from "./ipc-endpoint.ts";
import type { RouteKind } from "./route-counters.ts";
import type { OrderRateLimit } from "./token-bucket.ts";

/** One named socket of a deployment's manifest, as the runner receives it with the spawn. */
export interface DeploymentSocket {
  readonly name: string;
  readonly pattern: SocketPattern;
  /** `offer`: the process binds it itself; `consume`: it connects to the post office. */
  readonly direction: "offer" | "consume";
}

/** A deployment's fencing state when it is added. */
export interface OrderPathState {
  /** The fencing epoch stamped on its orders. */
  readonly epoch: bigint;
  /** False for a warm standby: its orders are dropped until setOrderPath opens the path. */
  readonly ordersOpen: boolean;
  /** Accounts its orders may name; empty or absent: no restriction at the runner. */
  readonly accounts?: readonly string[];
  /** Its rate limit (the layout's `limits`); absent: none at the runner. */
  readonly rateLimit?: OrderRateLimit | undefined;
}

/**
 * A route as the post office takes it: the layout engine's, plus the remote's CURVE server key
 * for an order path to a gateway that runs CURVE (empty or absent: plain TCP).
 */
export interface PostOfficeRoute extends Route {
  readonly curveServerKey?: string;
}

/** A route update as the post office takes it (a layout RouteUpdate is one). */
export interface PostOfficeRouteUpdate {
  readonly upserts: readonly PostOfficeRoute[];
  readonly removals: readonly RouteRemoval[];
}

/** The consumed socket patterns the post office bridges, and by which kind of bridge. */
export const BRIDGED_PATTERNS: Readonly<Partial<Record<SocketPattern, RouteKind>>> = {
  sub: "market-data",
  dealer: "orders",
};

/** A consumed socket the post office will bridge: its local endpoint and kind of bridge. */
export interface PlannedSocket {
  readonly name: string;
  readonly pattern: SocketPattern;
  /** `ipc://<runDir>/strategies/<deploymentId>/<name>`. */
  readonly local: string;
  readonly kind: RouteKind;
}

/**
 * A peer the post office can connect to: `tcp://host:port` with a host name, an IPv4 address or
 * a bracketed IPv6 one (no wildcard: that is for binding) and a port 1..65535, or `ipc://path`.
 * Checked before anything of an update changes, so connect never refuses one half-way through.
 */
const TCP_REMOTE = /^tcp:\/\/([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;
const IPC_REMOTE = /^ipc:\/\/(\S+)$/;

/** Where a remote is, as net.connect takes it. */
export type RemoteAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** `tcp://host:port` (an IPv6 host in brackets, a port 1-65535) or `ipc://path`; undefined for anything else. */
export function parseRemote(remote: string): RemoteAddress | undefined {
  const tcp = TCP_REMOTE.exec(remote);
  if (tcp !== null) {
    const port = Number(tcp[2]);
    if (port < 1 || port > 65_535) return undefined;
    return { host: (tcp[1] as string).replace(/^\[(.*)\]$/, "$1"), port };
  }
  const path = IPC_REMOTE.exec(remote)?.[1];
  return path === undefined ? undefined : { path };
}

/**
 * The consumed sockets of a deployment with their local endpoints (offered ones are the
 * process's own business). Throws HiveError InvalidArgument for a repeated name, a pattern the
 * post office does not bridge, a name that cannot be a file, or a path over the Unix limit.
 */
export function planSockets(
  runDir: string,
  deploymentId: string,
  sockets: readonly DeploymentSocket[],
): PlannedSocket[] {
  const consumed = sockets.filter((s) => s.direction === "consume");
  return consumed.map((socket) => {
    if (consumed.filter((s) => s.name === socket.name).length > 1) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `deployment ${deploymentId}: socket ${socket.name} is declared twice; expected unique names`,
      );
    }
    const kind = BRIDGED_PATTERNS[socket.pattern];
    if (kind === undefined) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `deployment ${deploymentId}: consumed socket ${socket.name} is ${socket.pattern}; the post office ` +
          `bridges consumed ${Object.keys(BRIDGED_PATTERNS).join(" and ")} sockets`,
      );
    }
    const local = localEndpoint(runDir, deploymentId, socket.name);
    checkIpcPathLength(ipcPath(local), `deployment ${deploymentId} socket ${socket.name}`);
    return { name: socket.name, pattern: socket.pattern, local, kind };
  });
}

/**
 * Checks a route against the sockets its deployment declared (undefined: unknown deployment)
 * and returns its remotes without repeats and its CURVE server key (undefined: plain TCP).
 * Throws HiveError: NotFound for an unknown deployment or socket; InvalidArgument for another
 * pattern or local endpoint than declared, an address that is not tcp://host:port or ipc://path,
 * more than one remote on an order path, or a CURVE server key that is not a Z85 key or is not
 * on an order path.
 */
export function checkRoute<S extends PlannedSocket>(
  route: PostOfficeRoute,
  sockets: ReadonlyMap<string, S> | undefined,
): { socket: S; remotes: readonly string[]; curveServerKey: string | undefined } {
  const where = `route ${route.deploymentId}/${route.socket}`;
  if (sockets === undefined) {
    throw new HiveError(
      ErrorCode.NotFound,
      `${where}: deployment ${route.deploymentId} is not in this post office`,
    );
  }
  const socket = sockets.get(route.socket);
  if (socket === undefined) {
    throw new HiveError(
      ErrorCode.NotFound,
      `${where}: deployment ${route.deploymentId} has no consumed socket ${route.socket}; ` +
        `expected one of ${[...sockets.keys()].join(", ") || "(none)"}`,
    );
  }
  if (route.pattern !== socket.pattern) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${where}: pattern ${route.pattern}, expected ${socket.pattern} as the deployment declared it`,
    );
  }
  if (route.local !== socket.local) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${where}: local endpoint ${route.local}, expected ${socket.local}; ` +
        `do the orchestrator and the runner agree on the run directory?`,
    );
  }
  for (const remote of route.remotes) {
    const address = parseRemote(remote);
    if (address === undefined) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `${where}: remote ${JSON.stringify(remote)}, expected tcp://ip:port (port 1-65535) or ipc://path`,
      );
    }
    if ("path" in address) checkIpcPathLength(address.path, `${where}: remote ${remote}`);
  }
  const remotes = [...new Set(route.remotes)];
  if (socket.kind === "orders" && remotes.length > 1) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${where}: ${remotes.length} remotes (${remotes.join(", ")}), expected at most one gateway for an order path`,
    );
  }
  const curveServerKey = route.curveServerKey === "" ? undefined : route.curveServerKey;
  if (curveServerKey !== undefined) {
    if (socket.kind !== "orders") {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `${where}: a CURVE server key on a ${socket.kind} route; only order paths connect with CURVE`,
      );
    }
    if (!Z85_KEY.test(curveServerKey)) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `${where}: CURVE server key of ${curveServerKey.length} characters, expected a Z85 key of 40`,
      );
    }
  }
  return { socket, remotes, curveServerKey };
}
