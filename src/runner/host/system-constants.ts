/**
 * The two kernel constants needed to turn /proc figures into bytes and seconds: the page size
 * (4 KiB on x86-64, but 16 or 64 KiB on some arm64 kernels) and the clock tick rate (USER_HZ,
 * almost always 100). Node has no sysconf(), so they are read from our auxiliary vector
 * (/proc/self/auxv), where the kernel hands them to every process at exec.
 */
import { realHostFiles, type HostFiles } from "./host-files.ts";

/** Page size and clock tick rate of this machine. */
export interface SystemConstants {
  /** Bytes per memory page (AT_PAGESZ). */
  readonly pageSize: number;
  /** Clock ticks per second in /proc's CPU times (AT_CLKTCK). */
  readonly clockTicks: number;
}

/** The values assumed when the auxiliary vector cannot be read: x86-64 Linux's. */
export const DEFAULT_SYSTEM_CONSTANTS: SystemConstants = { pageSize: 4096, clockTicks: 100 };

const AT_NULL = 0n;
const AT_PAGESZ = 6n;
const AT_CLKTCK = 17n;

/**
 * Parses a 64-bit little-endian auxiliary vector (pairs of type and value, ending with AT_NULL).
 * Entries it does not find keep their defaults.
 */
export function parseAuxv(bytes: Uint8Array, defaults = DEFAULT_SYSTEM_CONSTANTS): SystemConstants {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let { pageSize, clockTicks } = defaults;
  for (let offset = 0; offset + 16 <= bytes.byteLength; offset += 16) {
    const type = view.getBigUint64(offset, true);
    const value = Number(view.getBigUint64(offset + 8, true));
    if (type === AT_NULL) break;
    if (type === AT_PAGESZ && value > 0) pageSize = value;
    if (type === AT_CLKTCK && value > 0) clockTicks = value;
  }
  return { pageSize, clockTicks };
}

let cached: SystemConstants | undefined;

/** This machine's constants, read once from /proc/self/auxv (defaults if it is unreadable). */
export function systemConstants(files: HostFiles = realHostFiles): SystemConstants {
  if (files !== realHostFiles) {
    const bytes = files.readBytes("/proc/self/auxv");
    return bytes === undefined ? DEFAULT_SYSTEM_CONSTANTS : parseAuxv(bytes);
  }
  if (cached === undefined) {
    const bytes = files.readBytes("/proc/self/auxv");
    cached = bytes === undefined ? DEFAULT_SYSTEM_CONSTANTS : parseAuxv(bytes);
  }
  return cached;
}
