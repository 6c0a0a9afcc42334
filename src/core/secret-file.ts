/**
 * Files that hold secrets (private keys, join tokens): read only when no one but the owner can
 * read them, and written so that no one else ever could. Every secret The Hive reads from disk
 * goes through here, so that the refusal reads the same everywhere: the path, the mode found and
 * the mode expected.
 */
import {
  chmodSync,
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { constants } from "node:fs";
import { dirname } from "node:path";
import { ErrorCode, HiveError } from "./hive-error.ts";

/** Mode bits that must be clear on a secret file: any access by group or others. */
const LOOSE_BITS = 0o077;

/** The mode of a file as people write it (`0644`). */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, "0")}`;
}

/** FailedPrecondition naming the path, its mode and the expected one; undefined when `mode` is tight. */
export function looseModeError(what: string, path: string, mode: number): HiveError | undefined {
  if ((mode & LOOSE_BITS) === 0) return undefined;
  return new HiveError(
    ErrorCode.FailedPrecondition,
    `${what} ${path}: mode ${formatMode(mode)} lets group or others read it; expected 0600 (chmod 600 ${path})`,
  );
}

/**
 * Reads a secret file, refusing (FailedPrecondition, with path and mode) one that group or others
 * may access. The mode is read from the descriptor the content is read from (no window between a
 * check and a read), and a symbolic link is not followed. NotFound when there is no such file.
 */
export function readSecretFile(what: string, path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HiveError(
      code === "ENOENT" ? ErrorCode.NotFound : ErrorCode.FailedPrecondition,
      code === "ELOOP"
        ? `${what} ${path}: is a symbolic link; expected the file itself`
        : `${what} ${path}: cannot read it (${code ?? (err as Error).message})`,
      { cause: err },
    );
  }
  try {
    const loose = looseModeError(what, path, fstatSync(fd).mode);
    if (loose) throw loose;
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/** Like {@link readSecretFile}, but undefined when the file does not exist. */
export function readSecretFileIfExists(what: string, path: string): string | undefined {
  try {
    return readSecretFile(what, path);
  } catch (err) {
    if (err instanceof HiveError && err.code === ErrorCode.NotFound) return undefined;
    throw err;
  }
}

/**
 * Writes a secret file with mode 0600 (whatever the umask), its directory made 0700 if missing.
 * `exclusive`: fail if the file exists (never overwrite a key another process wrote a moment
 * ago); otherwise the file is replaced atomically (written beside it, then renamed over it).
 */
export function writeSecretFile(path: string, content: string, options: { exclusive?: boolean } = {}): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (options.exclusive === true) {
    writeFileSync(path, content, { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600);
    return;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600, flag: "w" });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
