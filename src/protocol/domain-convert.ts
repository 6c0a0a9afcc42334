/**
 * Conversions between the runner protocol's enums and the domain's own types that both ends of
 * the protocol need: the orchestrator when it builds a SpawnRequest, the runner when it reads one
 * and answers. Conversions into one side's private types stay on that side. A HiveError's code
 * is mapped here once per wire: to the protocol's RunnerErrorCode and to the gRPC status of a
 * failed call (the HTTP API's statuses are in orchestrator/http/error-body.ts).
 */
import { status as GrpcStatus } from "@grpc/grpc-js";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Pool, SocketPattern } from "../domain/index.ts";
import { Pool as ProtoPool, RunnerErrorCode, SocketPattern as ProtoPattern } from "./index.ts";

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

/**
 * Each HiveError code on the runner protocol's two wires, one row a code: the RunnerErrorCode of a
 * runner's answer (RunnerError), and the gRPC status of a failed call (Bootstrap).
 */
const WIRE_CODES: Record<ErrorCode, { readonly runner: RunnerErrorCode; readonly grpc: GrpcStatus }> = {
  [ErrorCode.InvalidArgument]: {
    runner: RunnerErrorCode.INVALID_ARGUMENT,
    grpc: GrpcStatus.INVALID_ARGUMENT,
  },
  [ErrorCode.NotFound]: { runner: RunnerErrorCode.NOT_FOUND, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.AlreadyExists]: { runner: RunnerErrorCode.ALREADY_EXISTS, grpc: GrpcStatus.ALREADY_EXISTS },
  [ErrorCode.FailedPrecondition]: {
    runner: RunnerErrorCode.FAILED_PRECONDITION,
    grpc: GrpcStatus.FAILED_PRECONDITION,
  },
  [ErrorCode.Unavailable]: { runner: RunnerErrorCode.UNAVAILABLE, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.PermissionDenied]: {
    runner: RunnerErrorCode.PERMISSION_DENIED,
    grpc: GrpcStatus.PERMISSION_DENIED,
  },
  // The runner protocol has no code of its own for it (the HTTP API's 401): the nearest one.
  [ErrorCode.Unauthenticated]: {
    runner: RunnerErrorCode.PERMISSION_DENIED,
    grpc: GrpcStatus.UNAUTHENTICATED,
  },
  [ErrorCode.Internal]: { runner: RunnerErrorCode.INTERNAL, grpc: GrpcStatus.INTERNAL },
};

/** A caught error as the protocol's error: its HiveError code and message. */
export function toRunnerError(err: unknown): { code: RunnerErrorCode; message: string } {
  const e = HiveError.from(err);
  return { code: WIRE_CODES[e.code].runner, message: e.message };
}

/** The gRPC status with which a failed call answers a HiveError's code. */
export function grpcStatusOf(code: ErrorCode): GrpcStatus {
  return WIRE_CODES[code].grpc;
}
