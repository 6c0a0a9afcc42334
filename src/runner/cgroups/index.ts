/**
 * Resource limits for the runner's processes: cgroup v1, v2 or none, detected at start. Start
 * with `cgroup.ts` (the seam: `CgroupDriver`, `Cgroup`), then `detect-cgroups.ts` (which driver
 * this machine gets); `limit-checks.ts` holds the pure checks the drivers share. Fakes are in
 * `testing/`.
 */
export type {
  Cgroup,
  CgroupDriver,
  CgroupKind,
  CgroupLimits,
  CgroupStats,
  SignalSender,
  WrappedCommand,
} from "./cgroup.ts";
export { nodeCgroupFs, type CgroupFs } from "./cgroup-fs.ts";
export {
  assertCgroupName,
  cfsQuotaMicros,
  CFS_PERIOD_US,
  formatCpuList,
  mustParseCpuList,
  validateLimits,
} from "./limit-checks.ts";
export { createCgroupV1Driver, type CgroupV1Options } from "./cgroup-v1-driver.ts";
export { createCgroupV2Driver, type CgroupV2Options } from "./cgroup-v2-driver.ts";
export { NoCgroupDriver } from "./no-cgroup-driver.ts";
export { destroyCgroupParent, detectCgroups, type DetectCgroupsOptions } from "./detect-cgroups.ts";
export { shellQuote, wrapInCgroup, WRAPPER_FAILED_EXIT_CODE } from "./wrap-command.ts";
