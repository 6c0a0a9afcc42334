/**
 * Pure checks and conversions shared by the drivers: group names, limits, cpu lists ("0-2,5")
 * and the CFS quota. Nothing here touches the filesystem.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { CgroupLimits } from "./cgroup.ts";
import { parseCpuList as parseHostCpuList } from "../host/own-cgroup-limits.ts";

/** The CFS period the drivers write, in microseconds (the kernel's default, 100 ms). */
export const CFS_PERIOD_US = 100_000;

/** The smallest quota the kernel accepts, in microseconds. */
const CFS_MIN_QUOTA_US = 1_000;

/** The smallest memory limit we accept: below this nothing can even start. */
const MIN_MEMORY_BYTES = 4 * 2 ** 20;

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Throws unless `name` is one safe path component (no "/", no leading dot). */
export function assertCgroupName(name: string, what = "cgroup name"): void {
  if (!NAME.test(name)) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `invalid ${what} ${JSON.stringify(name)}: expected 1-128 characters of A-Z a-z 0-9 _ . - not starting with "." or "-"`,
    );
  }
}

/** Splits a parent path such as "hive" or "hive/runner-1" into checked components. */
export function parentSegments(parent: string): string[] {
  const segments = parent.split("/").filter((s) => s !== "");
  if (segments.length === 0) {
    throw new HiveError(ErrorCode.InvalidArgument, `invalid cgroup parent ${JSON.stringify(parent)}: empty`);
  }
  for (const segment of segments) assertCgroupName(segment, "cgroup parent component");
  return segments;
}

/** Throws a HiveError naming the field unless every limit is in range. */
export function validateLimits(limits: CgroupLimits): void {
  const bad = (field: string, expected: string, value: unknown): never => {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `invalid cgroup limit ${field}=${JSON.stringify(value)}: expected ${expected}`,
    );
  };
  const { memoryBytes, cpuQuotaCores, cpus, pidsMax } = limits;
  if (memoryBytes !== undefined && !(Number.isSafeInteger(memoryBytes) && memoryBytes >= MIN_MEMORY_BYTES)) {
    bad("memoryBytes", `a whole number of bytes of at least ${MIN_MEMORY_BYTES} (4 MiB)`, memoryBytes);
  }
  if (cpuQuotaCores !== undefined && !(Number.isFinite(cpuQuotaCores) && cpuQuotaCores >= 0.01)) {
    bad("cpuQuotaCores", "a number of cores of at least 0.01", cpuQuotaCores);
  }
  if (cpus !== undefined) {
    const valid = cpus.every((c) => Number.isInteger(c) && c >= 0 && c < 4096);
    if (!valid || cpus.length === 0 || new Set(cpus).size !== cpus.length) {
      bad("cpus", "a non-empty list of distinct core numbers", cpus);
    }
  }
  if (pidsMax !== undefined && !(Number.isSafeInteger(pidsMax) && pidsMax >= 1)) {
    bad("pidsMax", "a whole number of at least 1", pidsMax);
  }
}

/** The CFS quota in microseconds per CFS_PERIOD_US for a number of cores (0.5 → 50000). */
export function cfsQuotaMicros(cores: number): number {
  return Math.max(CFS_MIN_QUOTA_US, Math.round(cores * CFS_PERIOD_US));
}

/** Formats cores as the kernel writes them: [0, 1, 2, 5] → "0-2,5". */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** Parses the kernel's cpu list format ("0-2,5", "" for none); throws on anything else. */
export function mustParseCpuList(text: string): number[] {
  // One parser of the kernel's list format for the whole runner (the host's); here a malformed
  // list in our own cgroup files is a bug, so it throws.
  const cpus = parseHostCpuList(text);
  if (cpus === undefined)
    throw new HiveError(ErrorCode.Internal, `cannot parse cpu list ${JSON.stringify(text)}`);
  return cpus;
}

/** Throws InvalidArgument unless every asked core is one the parent group may use. */
export function assertCpusAllowed(cpus: readonly number[], allowed: readonly number[], where: string): void {
  const missing = cpus.filter((c) => !allowed.includes(c));
  if (missing.length > 0) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `cannot pin to cores ${formatCpuList(missing)}: ${where} allows only ${formatCpuList(allowed) || "none"}`,
    );
  }
}
