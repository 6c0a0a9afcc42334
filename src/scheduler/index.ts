export { ClusterState, type Allocation } from "./cluster-state.ts";
export { NodeIndex, datasetKey } from "./node-index.ts";
export {
  requestFromManifest,
  checkRequest,
  coresTaken,
  type PlacementRequest,
  type Demand,
  type DatasetNeed,
  type RequestOptions,
} from "./request.ts";
export { Reason, REASON_LABELS, type ReasonCode } from "./reasons.ts";
export {
  DEFAULT_SCHEDULER_OPTIONS,
  compileSchedulerOptions,
  type SchedulerOptions,
  type CompiledSchedulerOptions,
  type ScoringWeights,
  type FitStrategy,
} from "./scheduler-options.ts";
export { Overlay, makeContext, type EvalContext } from "./eval-context.ts";
export {
  schedule,
  scoreNode,
  firstFailing,
  formatReasons,
  CHECKERS,
  SCORERS,
  type Decision,
  type ReasonCount,
  type ScheduleOptions,
} from "./stack.ts";
export { explain, type Explanation, type NodeVerdict } from "./explain.ts";
export {
  placeLayout,
  servicesToPlace,
  type ServiceToPlace,
  type InstancePlacement,
  type LayoutDecision,
} from "./place-layout.ts";
