/**
 * Why a node was filtered out. A closed set: `hive explain` counts nodes per reason, and every
 * checker returns exactly one of these. Listed in the order the checkers run (see stack.ts).
 */
export const Reason = {
  PoolMismatch: "pool-mismatch",
  MissingTag: "missing-required-tag",
  NodeNotReady: "node-not-ready",
  NodeDraining: "node-draining",
  StandbyAntiAffinity: "standby-anti-affinity",
  InsufficientCores: "insufficient-cores",
  InsufficientExclusiveCores: "insufficient-exclusive-cores",
  InsufficientMemory: "insufficient-memory",
  InsufficientPorts: "insufficient-ports",
} as const;

/** One of the {@link Reason} codes. */
export type ReasonCode = (typeof Reason)[keyof typeof Reason];

/** Words for each reason, as `hive explain` prints them. */
export const REASON_LABELS: Readonly<Record<ReasonCode, string>> = {
  "pool-mismatch": "pool mismatch",
  "missing-required-tag": "missing a required tag",
  "node-not-ready": "node not ready",
  "node-draining": "node draining",
  "standby-anti-affinity": "would share a node with its active or another standby",
  "insufficient-cores": "not enough cores",
  "insufficient-exclusive-cores": "not enough exclusive cores",
  "insufficient-memory": "not enough memory",
  "insufficient-ports": "not enough free ports",
};
