/**
 * Turns what better-sqlite3 throws into a HiveError that names the store's file, what was being
 * done, and what was expected, with a code a caller can branch on: a locked or full file may come
 * right (unavailable), a corrupt or unwritable one will not by itself (failed_precondition).
 */
import Database from "better-sqlite3";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/** The SQLite result code of an error (`SQLITE_BUSY`, `SQLITE_IOERR_FSYNC`...), if it has one. */
function sqliteCode(err: unknown): string | undefined {
  return err instanceof Database.SqliteError ? err.code : undefined;
}

function isOneOf(code: string | undefined, families: readonly string[]): boolean {
  // Extended codes extend their family's name: SQLITE_BUSY_SNAPSHOT is a SQLITE_BUSY.
  return code !== undefined && families.some((f) => code === f || code.startsWith(`${f}_`));
}

/** The HiveError for a failure of `action` (e.g. "open", `putLayout "demo"`) on the store at `path`. */
export function sqliteFailure(path: string, action: string, err: unknown): HiveError {
  if (err instanceof HiveError) return err;
  const code = sqliteCode(err);
  const detail = `${err instanceof Error ? err.message : String(err)}${code ? ` (${code})` : ""}`;
  if (isOneOf(code, ["SQLITE_BUSY", "SQLITE_LOCKED"])) {
    return new HiveError(
      ErrorCode.Unavailable,
      `store ${path}: cannot ${action}, the file is locked: ${detail}; expected this orchestrator to be its only user: is another orchestrator running on this file?`,
      { cause: err },
    );
  }
  if (isOneOf(code, ["SQLITE_NOTADB", "SQLITE_CORRUPT"])) {
    return new HiveError(
      ErrorCode.FailedPrecondition,
      `store ${path}: cannot ${action}, the file is not a readable SQLite database: ${detail}; expected a Hive store or a new file: restore a backup, or move it aside to start empty`,
      { cause: err },
    );
  }
  if (isOneOf(code, ["SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH"])) {
    return new HiveError(
      ErrorCode.FailedPrecondition,
      `store ${path}: cannot ${action}, the file cannot be opened for writing: ${detail}; expected a path this user may read and write`,
      { cause: err },
    );
  }
  if (isOneOf(code, ["SQLITE_FULL", "SQLITE_IOERR"])) {
    return new HiveError(
      ErrorCode.Unavailable,
      `store ${path}: cannot ${action}, the disk failed: ${detail}; expected a disk with free space that accepts writes`,
      { cause: err },
    );
  }
  return new HiveError(ErrorCode.Internal, `store ${path}: ${action} failed: ${detail}`, { cause: err });
}
