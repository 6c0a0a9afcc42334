/**
 * The runner's link to the orchestrator. Start with `orchestrator-link.ts` (one bidirectional
 * gRPC stream, opened by the runner: Register, then messages both ways, reconnecting with
 * backoff), carried by `grpc-transport.ts` (mutual TLS to https:// orchestrators); `link-credentials.ts`
 * reads the node's certificate, key or join token at start, and `node-bootstrap.ts` exchanges a
 * join token for a first certificate; `lease-guard.ts` keeps the lease's timeline from the
 * heartbeat acks (deployment/self-fencing.ts acts on it); `proto-convert.ts` turns protocol
 * messages into the runner's terms.
 */
export { grpcJsTransport } from "./grpc-transport.ts";
export { linkCredentials } from "./link-credentials.ts";
export { bootstrapNodeCertificate, type NodeBootstrapOptions } from "./node-bootstrap.ts";
export { DEFAULT_SELF_FENCE_KILL_AFTER_MS, LeaseGuard, type LeaseState } from "./lease-guard.ts";
export {
  OrchestratorLink,
  type LinkOptions,
  type OrchestratorLinkState,
  type RunnerPayload,
  type SlowMessage,
} from "./orchestrator-link.ts";
export { fromProtoRouteUpdate, fromProtoSocket, rateLimitOf, toProtoProcessState } from "./proto-convert.ts";
