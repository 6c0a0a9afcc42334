import { access, constants, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { cannotExecute, deniedTo, describeRunAs, type RunAs } from "../uids/index.ts";

/**
 * Finds the executable a deployment names, as exec would: a path (absolute, or relative to the
 * working directory) must be an executable file; a bare name is looked up in PATH. Checked before
 * anything is allocated, because once the process is wrapped to enter its cgroup, a missing
 * executable would only show as an early exit with code 127.
 *
 * With `runAs` (the deployment's own uid), "executable" means executable by that uid, as exec
 * would find it once the process has become that uid: a PATH entry it cannot reach (a
 * `/root/.pyenv/shims`) is skipped, and a refusal names the path that stopped it and the uid. The
 * working directory must be one the uid can enter.
 */
export async function resolveCommand(
  command: string,
  options: { cwd?: string; path?: string; runAs?: RunAs } = {},
): Promise<string> {
  const { runAs } = options;
  if (runAs !== undefined && options.cwd !== undefined) {
    const denied = deniedTo(resolve(options.cwd), runAs, ["search"]);
    if (denied !== undefined)
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `working directory ${options.cwd}: the deployment's ${describeRunAs(runAs)} cannot enter it: ${denied}`,
      );
  }
  const candidates = command.includes("/")
    ? [isAbsolute(command) ? command : resolve(options.cwd ?? process.cwd(), command)]
    : (options.path ?? process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin")
        .split(delimiter)
        .filter((d) => d !== "")
        .map((d) => join(d, command));
  const refusals: string[] = [];
  for (const file of candidates) {
    try {
      if (!(await stat(file)).isFile()) continue;
      await access(file, constants.X_OK);
    } catch {
      continue; // Not this one.
    }
    if (runAs === undefined) return file;
    const denied = cannotExecute(file, runAs);
    if (denied === undefined) return file;
    refusals.push(`${file}: ${denied}`);
  }
  if (runAs !== undefined && refusals.length > 0) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `command ${JSON.stringify(command)}: not executable by the deployment's ${describeRunAs(runAs)} ` +
        `(${refusals.join("; ")}); make it and the directories above it readable and searchable by others`,
    );
  }
  const where = command.includes("/") ? "no executable file there" : "not found in PATH";
  throw new HiveError(ErrorCode.InvalidArgument, `command ${JSON.stringify(command)}: ${where}`);
}
