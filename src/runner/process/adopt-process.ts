/**
 * Taking over a process that outlived the runner which started it (see README.md). The new
 * runner is not its parent, so it cannot wait() for it: it polls /proc/<pid> (checking the start
 * time, so a reused pid is not mistaken for it) and learns of the exit only as "gone", with the
 * exit code unknown. The cgroup, if any, still says whether the kernel OOM-killed it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Cgroup, CgroupDriver } from "../cgroups/cgroup.ts";
import { DEFAULT_LOG_CHECK_MS } from "./spawn-spec.ts";
import { logPath } from "./log-files.ts";
import { LogCapper } from "./log-rotation.ts";
import { stderrWarnings, type ManagedProcess, type WarningSink } from "./managed-process.ts";
import { ProcessHandle } from "./process-handle.ts";
import type { ProcessRecord } from "./process-record.ts";
import { isSameProcessAlive, readBootId } from "./process-identity.ts";

/** Options of {@link adoptProcess}. */
export interface AdoptOptions {
  /** The driver to re-open the process's cgroup with; without it the process has no group. */
  readonly driver?: CgroupDriver;
  /** How often /proc is polled for the process, in ms; default 200. */
  readonly pollMs?: number;
  /** The state directory the record came from; it is removed from there at the end. */
  readonly stateDir?: string;
  /** How often log sizes are checked, in ms; default 250. */
  readonly logCheckIntervalMs?: number;
  /** Where problems are reported; default stderr. */
  readonly warn?: WarningSink;
}

/**
 * A handle on the recorded process. If it is gone already (or the machine has rebooted since),
 * the handle comes back ended ("exit code unknown"), so the caller reports every record the same
 * way. The poll timer is unref'd (it never keeps the runner alive) and cleared at the end.
 */
export async function adoptProcess(
  record: ProcessRecord,
  options: AdoptOptions = {},
): Promise<ManagedProcess> {
  const warn = options.warn ?? stderrWarnings;
  const alive = async () =>
    record.bootId === (await readBootId()) && (await isSameProcessAlive(record.pid, record.startTime));
  let cgroup: Cgroup | undefined;
  if (record.cgroup && options.driver?.kind === record.cgroup.kind) {
    cgroup = await options.driver.open(record.cgroup.name);
  } else if (record.cgroup && record.cgroup.kind !== "none") {
    warn(
      `deployment ${record.deploymentId}: its ${record.cgroup.kind} cgroup cannot be opened with this driver`,
    );
  }
  const capper = new LogCapper(
    [
      logPath(record.logDir, record.deploymentId, "stdout"),
      logPath(record.logDir, record.deploymentId, "stderr"),
    ],
    record.logCapBytes,
    options.logCheckIntervalMs ?? DEFAULT_LOG_CHECK_MS,
    (error) => warn(`deployment ${record.deploymentId}: log rotation failed`, error),
  );
  const handle = new ProcessHandle({
    deploymentId: record.deploymentId,
    pid: record.pid,
    startedAt: new Date(record.startedAt),
    adopted: true,
    cgroup,
    oomBaseline: 0, // the group was new when the process started in it
    graceMs: record.graceMs,
    logDir: record.logDir,
    capper,
    stateDir: options.stateDir,
    startTime: record.startTime,
    warn,
  });
  if (!(await alive())) {
    handle.observeExit(null, null);
    return handle;
  }
  handle.markRunning();
  capper.start();
  watch(handle, alive, options.pollMs ?? 200, warn);
  return handle;
}

/** Polls `alive` until it says no, then reports the exit; stops polling once the handle has ended. */
function watch(
  handle: ProcessHandle,
  alive: () => Promise<boolean>,
  pollMs: number,
  warn: WarningSink,
): void {
  const stop = new AbortController();
  void handle.exited.then(() => stop.abort());
  const poll = async () => {
    for (;;) {
      try {
        await sleep(pollMs, undefined, { signal: stop.signal, ref: false });
      } catch {
        return; // the handle ended some other way
      }
      let gone = false;
      try {
        gone = !(await alive());
      } catch (error) {
        warn(`deployment ${handle.deploymentId}: cannot poll pid ${handle.pid}`, error);
      }
      if (gone) {
        handle.observeExit(null, null);
        return;
      }
    }
  };
  void poll();
}
