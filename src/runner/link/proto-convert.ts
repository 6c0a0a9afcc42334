/** Conversions between the runner protocol's messages and the runner's own types (the ones both ends share are in protocol/domain-convert.ts). */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { SocketPattern } from "../../domain/index.ts";
import {
  ProcessState as ProtoProcessState,
  SocketDirection,
  type RouteUpdate,
  type SocketSpec,
  type SpawnRequest,
} from "../../protocol/index.ts";
import { fromProtoPattern } from "../../protocol/domain-convert.ts";
import type { OrderRateLimit, PostOfficeRouteUpdate } from "../post-office/index.ts";
import type { ProcessState } from "../process/index.ts";

/** A socket of a SpawnRequest in the post office's terms. */
export function fromProtoSocket(s: SocketSpec): {
  name: string;
  pattern: SocketPattern;
  direction: "offer" | "consume";
} {
  if (s.direction === SocketDirection.UNSPECIFIED) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `socket ${s.name}: direction is not set (offer or consume)`,
    );
  }
  return {
    name: s.name,
    pattern: fromProtoPattern(s.pattern),
    direction: s.direction === SocketDirection.OFFER ? "offer" : "consume",
  };
}

/**
 * The rate limit a SpawnRequest sets (its `order_limits`), or undefined for none. Throws HiveError
 * InvalidArgument for a rate that is not above zero or a burst below 1: the spawn is refused
 * rather than run with a limit nobody asked for.
 */
export function rateLimitOf(
  request: Pick<SpawnRequest, "deploymentId" | "orderLimits">,
): OrderRateLimit | undefined {
  const limits = request.orderLimits;
  if (limits === undefined) return undefined;
  const { ordersPerSecond, orderBurst } = limits;
  if (!(Number.isFinite(ordersPerSecond) && ordersPerSecond > 0) || !(orderBurst >= 1)) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `deployment ${request.deploymentId}: order limits of ${ordersPerSecond} orders per second, burst ` +
        `${orderBurst}; expected a rate above zero and a burst of at least 1`,
    );
  }
  return { ordersPerSecond, burst: orderBurst };
}

const PROCESS_STATES: Record<ProcessState, ProtoProcessState> = {
  starting: ProtoProcessState.STARTING,
  running: ProtoProcessState.RUNNING,
  stopping: ProtoProcessState.STOPPING,
  exited: ProtoProcessState.EXITED,
  failed: ProtoProcessState.FAILED,
  killed: ProtoProcessState.KILLED,
};

/** A process state as the protocol reports it. */
export function toProtoProcessState(state: ProcessState): ProtoProcessState {
  return PROCESS_STATES[state];
}

/**
 * A protocol RouteUpdate in the post office's terms (the layout engine's routes, plus the
 * gateway's CURVE server key where one is set). The local endpoint is the runner's own (it owns
 * its run directory); the one in the message is informational.
 */
export function fromProtoRouteUpdate(
  u: RouteUpdate,
  socketOf: (deploymentId: string, socket: string) => { pattern: SocketPattern; local: string },
): PostOfficeRouteUpdate {
  return {
    upserts: u.routes.map((r) => ({
      deploymentId: r.deploymentId,
      socket: r.socketName,
      ...socketOf(r.deploymentId, r.socketName),
      remotes: [...r.remoteAddresses].sort(),
      ...(r.curveServerKey === "" ? {} : { curveServerKey: r.curveServerKey }),
    })),
    removals: u.removals.map((k) => ({ deploymentId: k.deploymentId, socket: k.socketName })),
  };
}
