import { access, constants, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/**
 * Finds the executable a deployment names, as exec would: a path (absolute, or relative to the
 * working directory) must be an executable file; a bare name is looked up in PATH. Checked before
 * anything is allocated, because once the process is wrapped to enter its cgroup, a missing
 * executable would only show as an early exit with code 127.
 */
export async function resolveCommand(
  command: string,
  options: { cwd?: string; path?: string } = {},
): Promise<string> {
  const candidates = command.includes("/")
    ? [isAbsolute(command) ? command : resolve(options.cwd ?? process.cwd(), command)]
    : (options.path ?? process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin")
        .split(delimiter)
        .filter((d) => d !== "")
        .map((d) => join(d, command));
  for (const file of candidates) {
    try {
      if ((await stat(file)).isFile()) {
        await access(file, constants.X_OK);
        return file;
      }
    } catch {
      // Not this one.
    }
  }
  const where = command.includes("/") ? "no executable file there" : "not found in PATH";
  throw new HiveError(ErrorCode.InvalidArgument, `command ${JSON.stringify(command)}: ${where}`);
}
