/** Fault-test library: real partitions (network namespaces), a delaying TCP proxy, process faults, seeded schedules. */
export { CommandError, type CommandResult } from "./command.ts";
export {
  DelayProxy,
  ProxyConnection,
  type ByteCounts,
  type DelayProxyOptions,
  type Direction,
} from "./delay-proxy.ts";
export { DEFAULT_PREFIX } from "./netns-layout.ts";
export { sweepStaleNamespaces, type SweepReport } from "./netns-teardown.ts";
export {
  createNamespace,
  type CutTarget,
  type Namespace,
  type NsExecOptions,
  type NsSpawnOptions,
} from "./netns.ts";
export {
  exitOf,
  ManagedProcess,
  ProcessRegistry,
  processes,
  type ExitInfo,
  type OutputLine,
  type StartOptions,
} from "./processes.ts";
export { netnsUsable, requireNetns, type NetnsSupport } from "./require-netns.ts";
export {
  FAULT_SEED_ENV,
  faultSeed,
  runSchedule,
  seededSchedule,
  type FaultSchedule,
  type FaultStep,
  type MsRange,
  type ScheduleActions,
  type ScheduleOptions,
} from "./seeded-schedule.ts";
