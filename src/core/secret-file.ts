/**
 * Files that hold secrets (a TLS key, an API token): read only when no one but their owner may
 * read them (mode 0600 or stricter, as ssh does with a private key), written so that they are
 * never readable by others, not even for a moment (made 0600, then renamed into place).
 */
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { ErrorCode, HiveError } from "./hive-error.ts";

/**
 * Reads a secret file; refuses one that is not a regular file or that its group or others may
 * read or write, naming `what` (a flag, a context field), the path and the mode.
 */
export function readSecretFile(path: string, what: string): Buffer {
  let mode: number;
  try {
    const stat = lstatSync(path);
    if (!stat.isFile()) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `${what} ${path} is not a regular file, expected a file of mode 0600`,
      );
    }
    mode = stat.mode & 0o777;
  } catch (err) {
    if (err instanceof HiveError) throw err;
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${what} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}), expected a file of mode 0600`,
      { cause: err },
    );
  }
  if ((mode & 0o077) !== 0) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${what} ${path} has mode 0${mode.toString(8)}, expected 0600: it holds a secret others may read (chmod 600 ${path})`,
    );
  }
  return readFileSync(path);
}

/** Writes a secret file (mode 0600, its directory made 0700 if new) atomically, durably. */
export function writeSecretFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
