/**
 * Picks the cgroup driver for this machine at start. Order: cgroup v2 at the root (a pure v2
 * machine), then v2 at `<root>/unified` (a hybrid machine, usable only if the v1 hierarchies
 * left it memory and cpu, which is rare), then v1, then the "none" driver. Each candidate is
 * probed by really creating our parent group, because "the directory looks writable" is not the
 * same as "the kernel lets us make groups here" (containers, delegation); the reasons of every
 * failed candidate end up in the none driver's describe().
 */
import { join } from "node:path";
import { HiveError } from "../../core/hive-error.ts";
import type { CgroupDriver, SignalSender } from "./cgroup.ts";
import { nodeCgroupFs, type CgroupFs } from "./cgroup-fs.ts";
import { createCgroupV1Driver } from "./cgroup-v1-driver.ts";
import { createCgroupV2Driver } from "./cgroup-v2-driver.ts";
import { NoCgroupDriver } from "./no-cgroup-driver.ts";

/** Options of {@link detectCgroups}. */
export interface DetectCgroupsOptions {
  /** Where cgroups are mounted; default /sys/fs/cgroup. */
  readonly root?: string;
  /** The parent group of all of ours; default "hive". Tests use a unique one. */
  readonly parent?: string;
  /** The filesystem; default the real one. */
  readonly fs?: CgroupFs;
  /** How signals are sent; default process.kill. */
  readonly send?: SignalSender;
}

/** The best driver this machine allows; never throws for a missing layout (that is the none driver). */
export async function detectCgroups(options: DetectCgroupsOptions = {}): Promise<CgroupDriver> {
  const root = options.root ?? "/sys/fs/cgroup";
  const fs = options.fs ?? nodeCgroupFs;
  const parent = options.parent ?? "hive";
  const common = { parent, fs, ...(options.send ? { send: options.send } : {}) };
  const reasons: string[] = [];
  for (const mount of [root, join(root, "unified")]) {
    if (!(await fs.exists(join(mount, "cgroup.controllers")))) continue;
    try {
      return await createCgroupV2Driver({ ...common, mount });
    } catch (error) {
      reasons.push(HiveError.from(error).message);
    }
  }
  if (await fs.exists(join(root, "memory", "cgroup.procs"))) {
    try {
      return await createCgroupV1Driver({ ...common, root });
    } catch (error) {
      reasons.push(HiveError.from(error).message);
    }
  } else {
    reasons.push(`no cgroup v1 memory hierarchy under ${root}`);
  }
  return new NoCgroupDriver(reasons, parent);
}

/**
 * Kills every process in every group under `parent`, removes those groups and the parent, and
 * returns the names of the groups removed. For a node that is gone for good (tests, benches, an
 * operator cleaning up): a running runner keeps its own groups.
 */
export async function destroyCgroupParent(parent: string, root = "/sys/fs/cgroup"): Promise<string[]> {
  const driver = await detectCgroups({ root, parent });
  if (driver.kind === "none") return [];
  return destroyAllGroups(driver);
}

/** Kills and removes every group of `driver`, then its parent; returns the names of the groups. */
export async function destroyAllGroups(driver: CgroupDriver): Promise<string[]> {
  const names = await driver.list();
  for (const name of names) await (await driver.open(name))?.destroy();
  await driver.removeParent();
  return names;
}
