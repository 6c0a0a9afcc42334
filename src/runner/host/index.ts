/**
 * Readings of the host this runner runs on, for registration and heartbeats: its capacity
 * (`capacity.ts`: CPUs and memory, narrowed by our own cgroup's limits, `own-cgroup-limits.ts`)
 * and its load (`load-sampler.ts`, from `cpu-times.ts` and `meminfo.ts`). Every file of /proc
 * and /sys is read through `host-files.ts`; its fake is in `testing/`.
 */
export { realHostFiles, type HostFiles } from "./host-files.ts";
export { parseCpuStat, sumCpus, busyFraction, type CpuTimes, type CpuStat } from "./cpu-times.ts";
export { parseMeminfo, parseMeminfoFields, type Meminfo } from "./meminfo.ts";
export {
  parseProcCgroup,
  parseCgroupMounts,
  parseCpuList,
  cgroupDirs,
  readOwnCgroupLimits,
  type CgroupMembership,
  type CgroupMount,
  type OwnCgroupLimits,
} from "./own-cgroup-limits.ts";
export {
  readCapacity,
  type HostCapacity,
  type CapacitySource,
  type ReadCapacityOptions,
} from "./capacity.ts";
export { LoadSampler, type HostLoad, type LoadSamplerOptions } from "./load-sampler.ts";
export {
  processStats,
  parsePidStat,
  parseStatm,
  type ProcessStats,
  type PidStat,
  type PidStatm,
} from "./process-stats.ts";
export {
  systemConstants,
  parseAuxv,
  DEFAULT_SYSTEM_CONSTANTS,
  type SystemConstants,
} from "./system-constants.ts";
