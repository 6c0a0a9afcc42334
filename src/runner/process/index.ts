/**
 * Process supervision for the runner: spawning, stopping, logs, and adoption after a restart.
 * See README.md in this folder.
 */
export { isTerminal, type ProcessState } from "./process-state.ts";
export { classifyExit, type ExitCause, type ExitFacts, type ExitStatus } from "./exit-status.ts";
export {
  buildEnv,
  compileSpawnSpec,
  DEFAULT_GRACE_MS,
  DEFAULT_LOG_CAP_BYTES,
  INHERITED_ENV,
  type CompiledSpawnSpec,
  type SpawnSpec,
} from "./spawn-spec.ts";
export { stderrWarnings, type ManagedProcess, type WarningSink } from "./managed-process.ts";
export { spawnManaged } from "./spawn-managed.ts";
export { exitMarkerPath, logPath, rotatedLogPath, LOG_STREAMS, type LogStream } from "./log-files.ts";
export { LogCapper, readGeneration, rotateIfFull, type Generation } from "./log-rotation.ts";
export { readLog, type ReadLogOptions } from "./read-log.ts";
export {
  loadRecords,
  recordPath,
  removeRecord,
  saveRecord,
  type InvalidRecord,
  type ProcessRecord,
} from "./process-record.ts";
export { adoptProcess, type AdoptOptions } from "./adopt-process.ts";
export { recoverProcesses, type RecoverOptions, type Recovery } from "./recover-processes.ts";
export { createProcessLauncher, type ProcessLauncher } from "./process-launcher.ts";
export { resolveCommand } from "./resolve-command.ts";
export { readProcStat, parseProcStat, type ProcStat } from "./process-identity.ts";
