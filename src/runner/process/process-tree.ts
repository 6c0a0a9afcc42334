/**
 * A process's descendants from /proc (parent links), for stopping a tree when there is no cgroup
 * to find it by (the none driver). It is a snapshot: a child that double-forks and reparents to
 * init before the snapshot is invisible, which is exactly why the cgroup is the real answer.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { listProcesses, readProcStat, type ProcStat } from "./process-identity.ts";

/** A process named for good: pid plus start time (see process-identity.ts). */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
}

/** Every live descendant of `pid` (children, their children, ...), not including `pid`. */
export async function listDescendants(pid: number): Promise<ProcessIdentity[]> {
  return descendantsOf(pid, await listProcesses());
}

/** The descendants of `pid` in a process table; pure, for tests. */
export function descendantsOf(pid: number, table: readonly ProcStat[]): ProcessIdentity[] {
  const children = new Map<number, ProcStat[]>();
  for (const p of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out: ProcessIdentity[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      if (child.state === "Z" || child.state === "X") continue;
      out.push({ pid: child.pid, startTime: child.startTime });
      queue.push(child.pid);
    }
  }
  return out;
}

/**
 * The live members of process group `pgid`. Also after its leader has died: a pid that is still
 * some process's group id cannot be given to a new process, so they are the group's own.
 */
export async function listGroup(pgid: number): Promise<ProcessIdentity[]> {
  return (await listProcesses())
    .filter((p) => p.pgrp === pgid && p.state !== "Z" && p.state !== "X")
    .map((p) => ({ pid: p.pid, startTime: p.startTime }));
}

/** Sends `signal` to each process of a snapshot that is still the same process (pid reuse is checked). */
export async function signalSnapshot(
  processes: readonly ProcessIdentity[],
  signal: NodeJS.Signals,
): Promise<void> {
  for (const p of processes) {
    const now = await readProcStat(p.pid);
    if (now?.startTime !== p.startTime) continue;
    try {
      process.kill(p.pid, signal);
    } catch {
      // Gone between the check and the signal: that is what we wanted.
    }
  }
}

/**
 * Waits until no live process is in process group `pgid` and none of `snapshot` lives on (a
 * SIGKILLed process dies a moment after the signal, not during it). Returns the pids still
 * alive after `timeoutMs`, or none.
 */
export async function waitUntilGone(
  pgid: number,
  snapshot: readonly ProcessIdentity[],
  timeoutMs: number,
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = await listProcesses();
    const alive = table.filter(
      (p) =>
        p.state !== "Z" &&
        p.state !== "X" &&
        (p.pgrp === pgid || snapshot.some((s) => s.pid === p.pid && s.startTime === p.startTime)),
    );
    if (alive.length === 0 || Date.now() > deadline) return alive.map((p) => p.pid);
    await sleep(5);
  }
}
