/**
 * The seam between the host readers and the machine: reading /proc and /sys. Reads are
 * synchronous on purpose — procfs and sysfs files are generated from kernel memory and never
 * wait on a disk, and keeping them synchronous lets a heartbeat sample be a plain value.
 */
import { readFileSync } from "node:fs";

/** Reads files of /proc and /sys; a missing or unreadable file is `undefined`, not an error. */
export interface HostFiles {
  /** The file's text, or undefined if it does not exist or cannot be read. */
  readText(path: string): string | undefined;
  /** The file's bytes, or undefined if it does not exist or cannot be read. */
  readBytes(path: string): Uint8Array | undefined;
}

// Errors that mean "not there for us": the file, its process or its cgroup is gone or hidden.
const ABSENT = new Set(["ENOENT", "ENOTDIR", "ESRCH", "EACCES", "EPERM", "EINVAL"]);

function readOrUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined && ABSENT.has(code)) return undefined;
    throw err;
  }
}

/** The real machine's files. */
export const realHostFiles: HostFiles = {
  readText: (path) => readOrUndefined(() => readFileSync(path, "utf8")),
  readBytes: (path) => readOrUndefined(() => readFileSync(path)),
};
