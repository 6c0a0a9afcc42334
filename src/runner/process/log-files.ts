/**
 * Where a deployment's output goes.
 *
 * The process writes straight into its log files: it gets the open files as stdout and stderr
 * (O_APPEND), not pipes into the runner. That costs the runner nothing per byte and, above all,
 * lets a process outlive a runner restart: with pipes, the first write after the runner died
 * would kill it with SIGPIPE. The price is that the runner cannot cut the stream itself; how it
 * keeps the files under their cap anyway is in log-rotation.ts.
 *
 * Layout: `<logDir>/<deploymentId>/stdout.log` and `stderr.log`, each with its rotated `.1` and
 * its rotation counter `.gen`, and `exit.json` once the process has ended (followers stop there;
 * it holds the ExitStatus).
 *
 * A deployment id becomes a directory name, and a LogRequest brings one from the wire: every path
 * here goes through logDirOf, which refuses (InvalidArgument) an id that is not one safe path
 * component ('/', '..', a leading dot), so nothing is read or written outside `logDir`.
 */
import { mkdir, open, rm, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { assertCgroupName } from "../cgroups/limit-checks.ts";
import type { ExitStatus } from "./exit-status.ts";

/** Which output stream. */
export type LogStream = "stdout" | "stderr";

/** Both streams, in the order their files are opened. */
export const LOG_STREAMS: readonly LogStream[] = ["stdout", "stderr"];

/** The directory of one deployment's logs; an id that would leave `logDir` is refused (see the header). */
export function logDirOf(logDir: string, deploymentId: string): string {
  // The rule of deployment ids everywhere on the runner (spawn-spec.ts, process-record.ts).
  assertCgroupName(deploymentId, "deployment id");
  return join(logDir, deploymentId);
}

/** The current log file of a stream. */
export function logPath(logDir: string, deploymentId: string, stream: LogStream): string {
  return join(logDirOf(logDir, deploymentId), `${stream}.log`);
}

/** The file a stream's log is rotated to. */
export function rotatedLogPath(logDir: string, deploymentId: string, stream: LogStream): string {
  return `${logPath(logDir, deploymentId, stream)}.1`;
}

/** The marker written when the process has ended: followers stop once they have read everything. */
export function exitMarkerPath(logDir: string, deploymentId: string): string {
  return join(logDirOf(logDir, deploymentId), "exit.json");
}

/**
 * Opens both log files for appending (previous runs' output is kept) and removes an old exit
 * marker, for a new start. The caller passes the handles' fds to the child, then closes them.
 */
export async function openLogFiles(
  logDir: string,
  deploymentId: string,
): Promise<{ stdout: FileHandle; stderr: FileHandle }> {
  await mkdir(logDirOf(logDir, deploymentId), { recursive: true });
  await rm(exitMarkerPath(logDir, deploymentId), { force: true });
  const stdout = await open(logPath(logDir, deploymentId, "stdout"), "a");
  try {
    return { stdout, stderr: await open(logPath(logDir, deploymentId, "stderr"), "a") };
  } catch (error) {
    await stdout.close();
    throw error;
  }
}

/** Writes the exit marker, with the status for `hive logs` to show. */
export async function writeExitMarker(
  logDir: string,
  deploymentId: string,
  status: ExitStatus,
): Promise<void> {
  await mkdir(logDirOf(logDir, deploymentId), { recursive: true });
  await writeFile(exitMarkerPath(logDir, deploymentId), `${JSON.stringify(status)}\n`);
}
