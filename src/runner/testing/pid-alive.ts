import { readFileSync } from "node:fs";
import { parseProcStat } from "../process/proc-stat.ts";

/**
 * Whether a process with this pid exists and has not died: a zombie (ended, not yet reaped)
 * counts as gone. For tests that see a process start or wait for it to end; /proc answers even
 * for a process this one may not signal.
 */
export function pidAlive(pid: number): boolean {
  let line: string;
  try {
    line = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  const state = parseProcStat(line)?.state;
  return state !== undefined && state !== "Z" && state !== "X";
}
