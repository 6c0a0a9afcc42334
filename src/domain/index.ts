export { POOLS, type Pool } from "./pool.ts";
export {
  SOCKET_PATTERNS,
  COMPATIBLE_PEERS,
  CONSUMER_FAN_IN,
  patternsCompatible,
  type SocketPattern,
} from "./socket-pattern.ts";
export {
  SERVICE_KINDS,
  RESTART_POLICIES,
  serviceManifestSchema,
  defaultRestart,
  portsNeeded,
  MAX_ORDERS_PER_SECOND,
  type OrderLimits,
  type ServiceKind,
  type ServiceManifest,
  type SocketSpec,
  type DatasetRef,
  type RestartPolicy,
  type RestartPolicyName,
} from "./service-manifest.ts";
export {
  layoutSchema,
  formatWireEnd,
  type GatewayUse,
  type Layout,
  type Wire,
  type WireEnd,
} from "./layout.ts";
export {
  NODE_STATES,
  DEFAULT_LINK_BANDWIDTH,
  nodeSpecSchema,
  portCount,
  type NodeSpec,
  type NodeState,
} from "./node-spec.ts";
export { datasetSpecSchema, type DatasetSpec, type HotDataset } from "./dataset.ts";
export {
  ValidationError,
  formatIssue,
  formatPath,
  describeValue,
  type ValidationIssue,
} from "./validation-error.ts";
export { readYamlFile, parseYaml, type ParsedYaml } from "./yaml-file.ts";
