/**
 * Which processes on the machine run under a uid of a range: read from /proc (the owner of
 * /proc/<pid> is the process's effective uid). The runner looks once at start, after re-adopting
 * its own processes, and warns about any other: a runner sharing this machine with an overlapping
 * range, or a process left behind, would share a uid with a deployment of this one.
 */
import { readdirSync, statSync } from "node:fs";
import type { UidRange } from "./uid-allocator.ts";

/** A process running under a uid of the range. */
export interface UidUser {
  readonly pid: number;
  readonly uid: number;
}

/** Every process whose effective uid is in `range`, by /proc. */
export function uidUsers(range: UidRange, proc = "/proc"): UidUser[] {
  const users: UidUser[] = [];
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const { uid } = statSync(`${proc}/${name}`);
      if (uid >= range.first && uid <= range.last) users.push({ pid: Number(name), uid });
    } catch {
      // Gone meanwhile.
    }
  }
  return users;
}
