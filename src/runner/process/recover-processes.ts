/**
 * What a runner does at start with what an earlier run of it left behind (see README.md):
 * adopt every recorded process that still runs, report the recorded ones that are gone, and kill
 * and remove every group under our cgroup parent that no record accounts for.
 */
import type { CgroupDriver } from "../cgroups/cgroup.ts";
import { adoptProcess, type AdoptOptions } from "./adopt-process.ts";
import type { ManagedProcess } from "./managed-process.ts";
import { loadRecords, type InvalidRecord } from "./process-record.ts";

/** Options of {@link recoverProcesses}. */
export interface RecoverOptions extends Omit<AdoptOptions, "driver" | "stateDir"> {
  /** Where the records are. */
  readonly stateDir: string;
  /** The machine's cgroup driver. */
  readonly driver: CgroupDriver;
}

/** What recovery found. */
export interface Recovery {
  /** One handle per record: running ones are adopted, gone ones come back already ended. */
  readonly processes: ManagedProcess[];
  /** Groups with no record that still ran processes: those were killed, and the groups removed. */
  readonly killedGroups: string[];
  /** Empty groups with no record, removed. */
  readonly removedGroups: string[];
  /** Files in the state directory that are not records (left in place for a person to look at). */
  readonly invalid: InvalidRecord[];
}

/** Adopts, reports and cleans up after an earlier run of the runner. */
export async function recoverProcesses(options: RecoverOptions): Promise<Recovery> {
  const { stateDir, driver, ...adoptOptions } = options;
  const { records, invalid } = await loadRecords(stateDir);
  const processes = await Promise.all(
    records.map((r) => adoptProcess(r, { ...adoptOptions, driver, stateDir })),
  );
  const known = new Set(records.flatMap((r) => (r.cgroup ? [r.cgroup.name] : [])));
  const killedGroups: string[] = [];
  const removedGroups: string[] = [];
  for (const name of await driver.list()) {
    if (known.has(name)) continue;
    const group = await driver.open(name);
    if (!group) continue;
    const busy = (await group.pids()).length > 0;
    await group.destroy();
    (busy ? killedGroups : removedGroups).push(name);
  }
  return { processes, killedGroups, removedGroups, invalid };
}
