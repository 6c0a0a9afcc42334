/** Conversions between the runner protocol's enums and messages and the domain's own types. */
import { assertNever } from "../core/assert-never.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Pool, SocketPattern } from "../domain/index.ts";
import {
  Pool as ProtoPool,
  ProcessState as ProtoProcessState,
  RunnerErrorCode,
  SocketDirection,
  SocketPattern as ProtoPattern,
  type RouteUpdate,
  type SocketSpec,
} from "../protocol/index.ts";
import type { PostOfficeRouteUpdate } from "./post-office/index.ts";
import type { ProcessState } from "./process/index.ts";

/** A domain pool as the protocol's enum. */
export function toProtoPool(pool: Pool): ProtoPool {
  return pool === "live" ? ProtoPool.LIVE : ProtoPool.BACKTEST;
}

const PATTERNS: Record<SocketPattern, ProtoPattern> = {
  pub: ProtoPattern.PUB,
  sub: ProtoPattern.SUB,
  push: ProtoPattern.PUSH,
  pull: ProtoPattern.PULL,
  dealer: ProtoPattern.DEALER,
  router: ProtoPattern.ROUTER,
  req: ProtoPattern.REQ,
  rep: ProtoPattern.REP,
};

/** A domain socket pattern as the protocol's enum. */
export function toProtoPattern(pattern: SocketPattern): ProtoPattern {
  return PATTERNS[pattern];
}

/** The protocol's socket pattern as the domain's; UNSPECIFIED (or unknown) is an error. */
export function fromProtoPattern(pattern: ProtoPattern): SocketPattern {
  for (const [name, value] of Object.entries(PATTERNS)) if (value === pattern) return name as SocketPattern;
  throw new HiveError(ErrorCode.InvalidArgument, `socket pattern ${pattern} is not one this runner knows`);
}

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

/** A process state as the protocol reports it. */
export function toProtoProcessState(state: ProcessState): ProtoProcessState {
  switch (state) {
    case "starting":
      return ProtoProcessState.STARTING;
    case "running":
      return ProtoProcessState.RUNNING;
    case "stopping":
      return ProtoProcessState.STOPPING;
    case "exited":
      return ProtoProcessState.EXITED;
    case "failed":
      return ProtoProcessState.FAILED;
    case "killed":
      return ProtoProcessState.KILLED;
    default:
      return assertNever(state, "process state");
  }
}

/** A HiveError code as the protocol's error code. */
export function toRunnerErrorCode(err: unknown): RunnerErrorCode {
  const e = HiveError.from(err);
  switch (e.code) {
    case ErrorCode.InvalidArgument:
      return RunnerErrorCode.INVALID_ARGUMENT;
    case ErrorCode.NotFound:
      return RunnerErrorCode.NOT_FOUND;
    case ErrorCode.AlreadyExists:
      return RunnerErrorCode.ALREADY_EXISTS;
    case ErrorCode.FailedPrecondition:
      return RunnerErrorCode.FAILED_PRECONDITION;
    case ErrorCode.Unavailable:
      return RunnerErrorCode.UNAVAILABLE;
    case ErrorCode.PermissionDenied:
      return RunnerErrorCode.PERMISSION_DENIED;
    case ErrorCode.Internal:
      return RunnerErrorCode.INTERNAL;
  }
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
