/**
 * Whether a deployment's uid can reach a file: the kernel's permission check for a process with
 * that uid, that gid and no supplementary groups (run-as.ts), computed from the modes and owners
 * on the way, so that a spawn is refused with the path and the uid before anything is started,
 * rather than failing later as an exit code 126 or 127 from inside the cgroup wrapper.
 *
 * As the kernel does: the owner's bits apply to the owner (even when the others' bits would allow
 * more), the group's to the group, the others' to everybody else; every directory on the way
 * needs search (x). ACLs and capabilities are not looked at (the deployment has none).
 *
 * Synchronous: a handful of stat calls on local metadata, cheaper than as many round trips through
 * libuv's thread pool on a busy runner (it is on every spawn's path; see bench:spawn).
 */
import { closeSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { describeRunAs, type RunAs } from "./run-as.ts";

/** What is asked of the last path component. */
export type Access = "read" | "execute" | "search";

const BIT: Record<Access, number> = { read: 4, execute: 1, search: 1 };

/** Whether `runAs` is granted `bit` (4 r, 2 w, 1 x) by a file's mode and owners. */
export function granted(st: Pick<Stats, "mode" | "uid" | "gid">, runAs: RunAs, bit: number): boolean {
  const shift = st.uid === runAs.uid ? 6 : st.gid === runAs.gid ? 3 : 0;
  return ((st.mode >> shift) & bit) !== 0;
}

/** `/root is 0700 owned by 0:0`: how a refusal names what stopped it. */
function modeOf(path: string, st: Stats): string {
  return `${path} is ${(st.mode & 0o7777).toString(8).padStart(4, "0")} owned by ${st.uid}:${st.gid}`;
}

/**
 * Why `runAs` cannot `want` the file or directory at `path` (every directory above it searched),
 * in words naming the path that stops it; undefined when it can. A path that does not exist is a
 * refusal too.
 */
export function deniedTo(path: string, runAs: RunAs, want: readonly Access[]): string | undefined {
  const full = resolve(path);
  const ancestors: string[] = [];
  for (let dir = dirname(full); ; dir = dirname(dir)) {
    ancestors.unshift(dir);
    if (dir === dirname(dir)) break;
  }
  const who = describeRunAs(runAs);
  for (const dir of ancestors) {
    const st = statOrUndefined(dir);
    if (st === undefined) return `${dir} does not exist`;
    if (!granted(st, runAs, BIT.search)) return `${who} cannot search ${modeOf(dir, st)}`;
  }
  const st = statOrUndefined(full);
  if (st === undefined) return `${full} does not exist`;
  for (const w of want) {
    if (!granted(st, runAs, BIT[w])) return `${who} cannot ${w} ${modeOf(full, st)}`;
  }
  return undefined;
}

/**
 * Why `runAs` cannot execute `file`, or undefined: execute permission, and read permission too
 * for a script (`#!`), which its interpreter must open as the deployment's uid.
 */
export function cannotExecute(file: string, runAs: RunAs): string | undefined {
  const denied = deniedTo(file, runAs, ["execute"]);
  if (denied !== undefined) return denied;
  return isScript(file) ? deniedTo(file, runAs, ["read"]) : undefined;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function isScript(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return false; // unreadable even by the runner: the execute check has spoken
  }
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head.toString("latin1") === "#!";
  } catch {
    return false; // a directory, say
  } finally {
    closeSync(fd);
  }
}
