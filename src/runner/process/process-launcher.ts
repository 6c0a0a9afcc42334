/**
 * The process-spawning seam: the runner starts and adopts processes only through a
 * ProcessLauncher, so its logic (and the mock runner) can run on FakeProcessLauncher.
 */
import { adoptProcess, type AdoptOptions } from "./adopt-process.ts";
import type { ManagedProcess, WarningSink } from "./managed-process.ts";
import type { ProcessRecord } from "./process-record.ts";
import { spawnManaged } from "./spawn-managed.ts";
import type { SpawnSpec } from "./spawn-spec.ts";

/** Starts and adopts supervised processes. */
export interface ProcessLauncher {
  /** Starts a process (see spawnManaged). */
  spawn(spec: SpawnSpec): Promise<ManagedProcess>;
  /** Takes over a recorded process after a runner restart (see adoptProcess). */
  adopt(record: ProcessRecord, options?: AdoptOptions): Promise<ManagedProcess>;
}

/** The real launcher: real processes, real cgroups. */
export function createProcessLauncher(warn?: WarningSink): ProcessLauncher {
  return {
    spawn: (spec) => spawnManaged(spec, warn),
    adopt: (record, options) => adoptProcess(record, { ...(warn ? { warn } : {}), ...options }),
  };
}
