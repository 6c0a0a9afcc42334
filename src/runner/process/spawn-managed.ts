/**
 * Starting a supervised process. The process:
 * - gets exactly the spec's environment (plus PATH/HOME/LANG, see spawn-spec.ts);
 * - is spawned detached, so it leads its own session and process group: -pid reaches its whole
 *   group, and a terminal's or the runner's signals do not;
 * - starts inside its cgroup (the driver wraps the command; see cgroups/wrap-command.ts), and
 *   spawnManaged resolves only once the kernel lists it there;
 * - writes stdout and stderr straight into its capped log files (see log-files.ts);
 * - runs under the spec's uid and gid, if it names them, with no supplementary groups, from its
 *   first instruction on (see drop-privileges.ts);
 * - is recorded in the state directory, if one is given, so that a restarted runner can adopt it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Cgroup } from "../cgroups/cgroup.ts";
import { errorCode } from "../cgroups/cgroup-fs.ts";
import { describeRunAs } from "../uids/index.ts";
import { asUser } from "./drop-privileges.ts";
import { logPath, openLogFiles, writeExitMarker } from "./log-files.ts";
import { LogCapper } from "./log-rotation.ts";
import { stderrWarnings, type ManagedProcess, type WarningSink } from "./managed-process.ts";
import { ProcessHandle } from "./process-handle.ts";
import { saveRecord } from "./process-record.ts";
import { readBootId, readProcStat } from "./process-identity.ts";
import { compileSpawnSpec, type CompiledSpawnSpec, type SpawnSpec } from "./spawn-spec.ts";

/** How long spawnManaged waits for the kernel to list a new process in its cgroup. */
const ENTER_CGROUP_TIMEOUT_MS = 2_000;

/**
 * Starts `spec` and resolves with its handle once it runs (in its cgroup, recorded). Rejects
 * with a HiveError if it cannot be started at all (no such executable, bad cwd); a wrapped
 * command that cannot enter its cgroup starts, and fails at once with exit code 125.
 */
export async function spawnManaged(
  spec: SpawnSpec,
  warn: WarningSink = stderrWarnings,
): Promise<ManagedProcess> {
  const c = compileSpawnSpec(spec);
  const files = await openLogFiles(c.logDir, c.deploymentId);
  let child: ChildProcess;
  let exit: Promise<[number | null, string | null]>;
  let oomBaseline = 0;
  try {
    if (c.cgroup) {
      // A group whose statistics cannot be read still confines the process; only OOM reporting suffers.
      const stats = await c.cgroup
        .stats()
        .catch((e: unknown) => warn(`cgroup ${c.cgroup?.name}: no statistics`, e));
      oomBaseline = stats?.oomKills ?? 0;
    }
    // In a real group, the wrapper enters it as root and then becomes the deployment's uid
    // (setpriv); elsewhere Node's spawn takes the uid itself (see drop-privileges.ts).
    const inGroup = c.cgroup !== undefined && c.driver !== undefined && c.cgroup.paths.length > 0;
    const program =
      c.runAs && inGroup
        ? asUser(c.runAs, c.command, c.args, `deployment ${c.deploymentId}`)
        : { command: c.command, args: [...c.args] };
    const command =
      c.cgroup && c.driver ? c.driver.wrapCommand(c.cgroup, program.command, program.args) : program;
    child = spawn(command.command, command.args, {
      env: c.env,
      ...(c.cwd === undefined ? {} : { cwd: c.cwd }),
      ...(c.runAs && !inGroup ? { uid: c.runAs.uid, gid: c.runAs.gid } : {}),
      detached: true,
      stdio: ["ignore", files.stdout.fd, files.stderr.fd],
    });
    // Listen for the exit at once: it may come before any await below returns.
    exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve([code, signal])));
    await spawned(child);
  } catch (error) {
    const failure = new HiveError(
      ErrorCode.FailedPrecondition,
      `cannot start ${JSON.stringify(c.command)} for deployment ${c.deploymentId}` +
        `${c.runAs ? ` as ${describeRunAs(c.runAs)}` : ""}: ${error instanceof HiveError ? error.message : (errorCode(error) ?? HiveError.from(error).message)}`,
      { cause: error },
    );
    const status = {
      code: null,
      signal: null,
      oomKilled: false,
      reason: `could not start: ${failure.message}`,
    };
    await writeExitMarker(c.logDir, c.deploymentId, status).catch((e: unknown) =>
      warn("cannot write the exit marker", e),
    );
    throw failure;
  } finally {
    // The child has its own copies of the descriptors now.
    await files.stdout.close();
    await files.stderr.close();
  }
  child.on("error", (error) => warn(`deployment ${c.deploymentId}: child process error`, error));
  const pid = child.pid;
  if (pid === undefined) throw new HiveError(ErrorCode.Internal, `spawned ${c.command} but got no pid`);
  const capper = new LogCapper(
    [logPath(c.logDir, c.deploymentId, "stdout"), logPath(c.logDir, c.deploymentId, "stderr")],
    c.logCapBytes,
    c.logCheckIntervalMs,
    (error) => warn(`deployment ${c.deploymentId}: log rotation failed`, error),
  );
  const handle = new ProcessHandle({
    deploymentId: c.deploymentId,
    pid,
    startedAt: new Date(),
    adopted: false,
    cgroup: c.cgroup,
    oomBaseline,
    graceMs: c.graceMs,
    logDir: c.logDir,
    capper,
    stateDir: c.stateDir,
    warn,
  });
  capper.start();
  let ended = false;
  const setup = settle(c, handle, pid, () => ended, warn);
  // The exit is handed over only after the setup, so a record is never written after its removal.
  void exit.then(async ([code, signal]) => {
    ended = true;
    await setup;
    handle.observeExit(code, signal);
  });
  await setup;
  handle.markRunning();
  return handle;
}

/** Resolves on the child's 'spawn' event, rejects on its 'error' (ENOENT, EACCES, bad cwd). */
function spawned(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      child.off("spawn", onSpawn);
      reject(error);
    };
    const onSpawn = () => {
      child.off("error", onError);
      resolve();
    };
    child.once("error", onError);
    child.once("spawn", onSpawn);
  });
}

/** Waits until the process is in its cgroup (if it has a real one), then saves its record; never rejects. */
async function settle(
  c: CompiledSpawnSpec,
  handle: ProcessHandle,
  pid: number,
  ended: () => boolean,
  warn: WarningSink,
): Promise<void> {
  try {
    if (c.cgroup && c.cgroup.paths.length > 0) await waitUntilIn(c.cgroup, pid, ended, warn);
  } catch (error) {
    warn(
      `deployment ${c.deploymentId}: cannot tell whether pid ${pid} entered cgroup ${c.cgroup?.name}`,
      error,
    );
  }
  if (c.stateDir === undefined || ended()) return;
  try {
    const stat = await readProcStat(pid);
    if (stat === undefined) return; // already gone: there is nothing to adopt later
    await saveRecord(c.stateDir, {
      version: 1,
      deploymentId: c.deploymentId,
      pid,
      startTime: stat.startTime,
      bootId: await readBootId(),
      startedAt: handle.startedAt.toISOString(),
      command: c.command,
      args: [...c.args],
      ...(c.cgroup && c.driver ? { cgroup: { kind: c.driver.kind, name: c.cgroup.name } } : {}),
      logDir: c.logDir,
      logCapBytes: c.logCapBytes,
      graceMs: c.graceMs,
    });
  } catch (error) {
    warn(
      `deployment ${c.deploymentId}: cannot save its process record (a restarted runner will not adopt it)`,
      error,
    );
  }
}

/** Polls the cgroup until it holds `pid` in every hierarchy (the wrapper is done), the process ended, or a timeout. */
async function waitUntilIn(
  cgroup: Cgroup,
  pid: number,
  ended: () => boolean,
  warn: WarningSink,
): Promise<void> {
  const deadline = Date.now() + ENTER_CGROUP_TIMEOUT_MS;
  while (!ended()) {
    if (await cgroup.holds(pid)) return;
    if (Date.now() > deadline) {
      warn(`pid ${pid} is not in cgroup ${cgroup.name} ${ENTER_CGROUP_TIMEOUT_MS} ms after its start`);
      return;
    }
    await sleep(2);
  }
}
