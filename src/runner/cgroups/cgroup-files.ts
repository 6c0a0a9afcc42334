/**
 * Reading and writing cgroup control files with errors that say which file, which value and
 * what the kernel answered, plus removal of group directories that may still be busy for a
 * moment after their last task died.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { errorCode, type CgroupFs } from "./cgroup-fs.ts";

/** Writes one value to a control file; throws a HiveError naming the file, the value and the errno. */
export async function writeControl(fs: CgroupFs, path: string, value: string): Promise<void> {
  try {
    await fs.write(path, value);
  } catch (error) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `cannot write ${JSON.stringify(value)} to ${path}: ${errorCode(error) ?? String(error)}`,
      { cause: error },
    );
  }
}

/** Reads a control file, trimmed; throws a HiveError naming the file. */
export async function readControl(fs: CgroupFs, path: string): Promise<string> {
  try {
    return (await fs.read(path)).trim();
  } catch (error) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `cannot read ${path}: ${errorCode(error) ?? String(error)}`,
      { cause: error },
    );
  }
}

/** Reads a control file, or undefined if it does not exist on this kernel. */
export async function readOptional(fs: CgroupFs, path: string): Promise<string | undefined> {
  try {
    return (await fs.read(path)).trim();
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw HiveError.from(error, ErrorCode.FailedPrecondition);
  }
}

/** Parses "key value" lines (memory.events, cpu.stat, memory.oom_control) into numbers. */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** The pids listed in a cgroup.procs file; an already removed group has none. */
export async function readPids(fs: CgroupFs, procsFile: string): Promise<number[]> {
  let text: string;
  try {
    text = await fs.read(procsFile);
  } catch (error) {
    // ENODEV: the group was removed while the file was being read.
    if (errorCode(error) === "ENOENT" || errorCode(error) === "ENODEV") return [];
    throw HiveError.from(error, ErrorCode.FailedPrecondition);
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);
}

/**
 * Removes group directories, children before parents as given. A directory whose last task has
 * just been reaped can answer EBUSY for a moment, so EBUSY is retried until `timeoutMs`; one that
 * is gone already is fine (destroy is idempotent).
 */
export async function removeDirs(fs: CgroupFs, dirs: readonly string[], timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const dir of dirs) {
    for (;;) {
      try {
        await fs.rmdir(dir);
        break;
      } catch (error) {
        const code = errorCode(error);
        if (code === "ENOENT") break;
        if (code === "EBUSY" && Date.now() < deadline) {
          await sleep(10);
          continue;
        }
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `cannot remove cgroup ${dir}: ${code ?? String(error)}`,
          {
            cause: error,
          },
        );
      }
    }
  }
}
