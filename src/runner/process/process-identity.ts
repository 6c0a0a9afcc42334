/**
 * What /proc says about a process: its parent, process group, state and start time. The start
 * time (field 22 of /proc/<pid>/stat, clock ticks since boot) never changes for a process and
 * differs for a later process that reuses the pid, so (pid, start time, boot id) names one
 * process for good: that is how a restarted runner knows a recorded pid is still its process.
 */
import { readFileSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { splitPidStat } from "../host/process-stats.ts";

/** The fields of /proc/<pid>/stat the supervisor uses. */
export interface ProcStat {
  readonly pid: number;
  /** The executable's name, as the kernel keeps it (at most 15 characters). */
  readonly comm: string;
  /** One letter: R running, S sleeping, Z zombie, X dead, ... */
  readonly state: string;
  readonly ppid: number;
  /** The process group id (kill(-pgrp) reaches the group). */
  readonly pgrp: number;
  /** The session id. */
  readonly session: number;
  /** Start time in clock ticks since boot, as a decimal string (it can exceed 2^53 in theory). */
  readonly startTime: string;
}

/**
 * Parses one /proc/<pid>/stat line. `comm` is in parentheses and may itself hold spaces and
 * parentheses, so the fields are counted from the LAST ")". Returns undefined if malformed.
 */
export function parseProcStat(line: string): ProcStat | undefined {
  const split = splitPidStat(line);
  if (split === undefined) return undefined;
  const [state, ppid, pgrp, session, startTime] = [3, 4, 5, 6, 22].map(split.field);
  if (
    state === undefined ||
    ppid === undefined ||
    pgrp === undefined ||
    session === undefined ||
    startTime === undefined
  ) {
    return undefined;
  }
  return {
    pid: split.pid,
    comm: split.comm,
    state,
    ppid: Number(ppid),
    pgrp: Number(pgrp),
    session: Number(session),
    startTime,
  };
}

/** /proc/<pid>/stat of a live (or zombie) process, or undefined if there is no such pid. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined; // no such pid (or it ended while being read)
  }
}

/**
 * Whether a process with this pid exists and has not died: a zombie (ended, not yet reaped)
 * counts as gone. Synchronous (for exit paths and tests); /proc answers even for a process this
 * one may not signal.
 */
export function pidAlive(pid: number): boolean {
  let line: string;
  try {
    line = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false; // no such pid
  }
  const state = parseProcStat(line)?.state;
  return state !== undefined && state !== "Z" && state !== "X";
}

/** Whether `pid` is still the process that started at `startTime` and has not died (zombies count as dead). */
export async function isSameProcessAlive(pid: number, startTime: string): Promise<boolean> {
  const stat = await readProcStat(pid);
  return stat !== undefined && stat.startTime === startTime && stat.state !== "Z" && stat.state !== "X";
}

/** Every process on the machine, for finding descendants; unreadable entries are skipped. */
export async function listProcesses(): Promise<ProcStat[]> {
  const pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name)).map(Number);
  const stats = await Promise.all(pids.map(readProcStat));
  return stats.filter((s): s is ProcStat => s !== undefined);
}

/** This boot's id: a recorded start time is meaningful only within the same boot. */
export async function readBootId(): Promise<string> {
  return (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
}
