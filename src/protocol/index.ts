// The runner protocol, re-exported by name for the rest of the code. The types and schemas are
// generated from proto/hive/runner/v1/runner.proto (see scripts/gen-proto.mjs); import them from
// here, never from ./gen/ directly, so the generated layout can change in one place.

import type { OrchestratorMessage, RunnerMessage } from "./gen/hive/runner/v1/runner_pb.ts";

/** Major version of the runner protocol and the compatibility rule for registering runners. */
export { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, isCompatibleProtocol } from "./protocol-version.ts";

/** The generated descriptor of hive/runner/v1/runner.proto. */
export { file_hive_runner_v1_runner } from "./gen/hive/runner/v1/runner_pb.ts";
/** The runner protocol service: one bidirectional stream, opened by the runner. */
export { RunnerService } from "./gen/hive/runner/v1/runner_pb.ts";
/** Runner → orchestrator, without a client certificate: a join token and a CSR for a node certificate. */
export { BootstrapRequestSchema, type BootstrapRequest } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: the signed node certificate. */
export { BootstrapResponseSchema, type BootstrapResponse } from "./gen/hive/runner/v1/runner_pb.ts";
/** Envelope of everything a runner sends to the orchestrator. */
export { RunnerMessageSchema, type RunnerMessage } from "./gen/hive/runner/v1/runner_pb.ts";
/** Envelope of everything the orchestrator sends to a runner. */
export { OrchestratorMessageSchema, type OrchestratorMessage } from "./gen/hive/runner/v1/runner_pb.ts";
/** Runner → orchestrator, first on every stream: who the runner is and what it has. */
export { RegisterSchema, type Register } from "./gen/hive/runner/v1/runner_pb.ts";
/** A deployment a runner already runs when it registers, for re-adoption. */
export { RunningDeploymentSchema, type RunningDeployment } from "./gen/hive/runner/v1/runner_pb.ts";
/** Runner → orchestrator: lease renewal with node load and every process's state. */
export { HeartbeatSchema, type Heartbeat } from "./gen/hive/runner/v1/runner_pb.ts";
/** Measured CPU and memory load of a node. */
export { NodeLoadSchema, type NodeLoad } from "./gen/hive/runner/v1/runner_pb.ts";
/** Runner → orchestrator: answer to a SpawnRequest, with pid and real addresses. */
export { SpawnResponseSchema, type SpawnResponse } from "./gen/hive/runner/v1/runner_pb.ts";
/** Runner → orchestrator: answer to a StopRequest, with the final process state. */
export { StopResponseSchema, type StopResponse } from "./gen/hive/runner/v1/runner_pb.ts";
/** Runner → orchestrator: the route table version the sidecar has applied. */
export { RouteAckSchema, type RouteAck } from "./gen/hive/runner/v1/runner_pb.ts";
/** Runner → orchestrator: progress or change of one dataset in RAM. */
export { DatasetStatusSchema, type DatasetStatus } from "./gen/hive/runner/v1/runner_pb.ts";
/** Runner → orchestrator: part of a deployment's output, answering a LogRequest. */
export { LogChunkSchema, type LogChunk } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: answer to a Heartbeat, renewing the runner's lease. */
export { HeartbeatAckSchema, type HeartbeatAck } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: answer to Register (accepted or refused, lease timings). */
export { RegisterAckSchema, type RegisterAck } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: start one deployment's process. */
export { SpawnRequestSchema, type SpawnRequest } from "./gen/hive/runner/v1/runner_pb.ts";
/** A deployment's order rate limit, in a SpawnRequest. */
export { OrderLimitsSchema, type OrderLimits } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: stop one deployment (SIGTERM, then SIGKILL after the grace period). */
export { StopRequestSchema, type StopRequest } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: a versioned change to the sidecar routing table. */
export { RouteUpdateSchema, type RouteUpdate } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: load one dataset into RAM. */
export { DatasetLoadSchema, type DatasetLoad } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: drop one dataset from RAM. */
export { DatasetEvictSchema, type DatasetEvict } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: open or close a deployment's order path, with its fencing epoch. */
export { SetOrderPathSchema, type SetOrderPath } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: ask for a deployment's stdout or stderr. */
export { LogRequestSchema, type LogRequest } from "./gen/hive/runner/v1/runner_pb.ts";
/** Orchestrator → runner: stop a (following) LogRequest. */
export { LogCancelSchema, type LogCancel } from "./gen/hive/runner/v1/runner_pb.ts";
/** Why a runner could not do what it was asked: a code and a message. */
export { RunnerErrorSchema, type RunnerError } from "./gen/hive/runner/v1/runner_pb.ts";
/** CPU cores, memory bytes and exclusive cores, offered or requested. */
export { ResourcesSchema, type Resources } from "./gen/hive/runner/v1/runner_pb.ts";
/** An inclusive range of TCP ports a runner owns. */
export { PortRangeSchema, type PortRange } from "./gen/hive/runner/v1/runner_pb.ts";
/** A dataset fully loaded in a runner's RAM. */
export { HotDatasetSchema, type HotDataset } from "./gen/hive/runner/v1/runner_pb.ts";
/** The state of one deployment's process on a runner. */
export { ProcessStatusSchema, type ProcessStatus } from "./gen/hive/runner/v1/runner_pb.ts";
/** The tcp://ip:port where one offered socket can be reached. */
export { SocketAddressSchema, type SocketAddress } from "./gen/hive/runner/v1/runner_pb.ts";
/** One named socket of a deployment: ZeroMQ pattern and direction. */
export { SocketSpecSchema, type SocketSpec } from "./gen/hive/runner/v1/runner_pb.ts";
/** A dataset a deployment reads, and the name it knows it by. */
export { DatasetMountSchema, type DatasetMount } from "./gen/hive/runner/v1/runner_pb.ts";
/** Full routing of one consumed socket: local endpoint and remote addresses. */
export { SocketRouteSchema, type SocketRoute } from "./gen/hive/runner/v1/runner_pb.ts";
/** Identifies one consumed socket of one deployment (for route removals). */
export { SocketRouteKeySchema, type SocketRouteKey } from "./gen/hive/runner/v1/runner_pb.ts";
/** Hardware partition of a node: live or backtest. */
export { Pool, PoolSchema } from "./gen/hive/runner/v1/runner_pb.ts";
/** Lifecycle state of a deployment's process on a runner. */
export { ProcessState, ProcessStateSchema } from "./gen/hive/runner/v1/runner_pb.ts";
/** Lifecycle state of a dataset in a runner's RAM. */
export { DatasetState, DatasetStateSchema } from "./gen/hive/runner/v1/runner_pb.ts";
/** ZeroMQ pattern of a strategy's local socket. */
export { SocketPattern, SocketPatternSchema } from "./gen/hive/runner/v1/runner_pb.ts";
/** Whether a socket is offered to others or consumes from others. */
export { SocketDirection, SocketDirectionSchema } from "./gen/hive/runner/v1/runner_pb.ts";
/** stdout or stderr of a process. */
export { LogStream, LogStreamSchema } from "./gen/hive/runner/v1/runner_pb.ts";
/** Closed set of reasons a runner refuses or fails a request. */
export { RunnerErrorCode, RunnerErrorCodeSchema } from "./gen/hive/runner/v1/runner_pb.ts";

/** Name of each kind of message a runner sends (the RunnerMessage oneof cases). */
export type RunnerMessageCase = NonNullable<RunnerMessage["message"]["case"]>;

/** Name of each kind of message the orchestrator sends (the OrchestratorMessage oneof cases). */
export type OrchestratorMessageCase = NonNullable<OrchestratorMessage["message"]["case"]>;
