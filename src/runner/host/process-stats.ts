/**
 * Memory and CPU time of one process, from /proc/<pid>/stat and /proc/<pid>/statm, for the
 * process states a heartbeat carries. Pure parsers and a thin reader.
 */
import { realHostFiles, type HostFiles } from "./host-files.ts";
import { systemConstants } from "./system-constants.ts";

/** The fields of /proc/<pid>/stat the runner uses (CPU times in clock ticks). */
export interface PidStat {
  readonly pid: number;
  /** The executable's name, up to 15 characters (may contain spaces and parentheses). */
  readonly comm: string;
  /** R running, S sleeping, D disk wait, Z zombie, T stopped, ... */
  readonly state: string;
  /** Parent process id. */
  readonly ppid: number;
  /** User-mode CPU time, in clock ticks. */
  readonly utimeTicks: number;
  /** Kernel-mode CPU time, in clock ticks. */
  readonly stimeTicks: number;
  /** Threads in the process. */
  readonly threads: number;
  /** When the process started, in clock ticks after boot (with pid, it names a process uniquely). */
  readonly startTicks: number;
}

/** The fields of /proc/<pid>/statm, in pages. */
export interface PidStatm {
  /** Virtual memory size. */
  readonly sizePages: number;
  /** Resident set size. */
  readonly residentPages: number;
  /** Resident pages shared with others (file-backed or shared memory). */
  readonly sharedPages: number;
}

/** What a heartbeat reports of one running process. */
export interface ProcessStats {
  readonly pid: number;
  /** Single-letter kernel state (R, S, D, Z, T, ...). */
  readonly state: string;
  /** Resident memory in bytes. */
  readonly rssBytes: number;
  /** User plus system CPU time consumed so far, in milliseconds. */
  readonly cpuMs: number;
  /** User-mode part of cpuMs. */
  readonly userCpuMs: number;
  /** Kernel-mode part of cpuMs. */
  readonly systemCpuMs: number;
  readonly threads: number;
  /** Start time in clock ticks after boot: tells a reused pid from the process we started. */
  readonly startTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself contain
 * spaces and ')', so the fields are counted from the last ')'. Returns undefined if malformed.
 */
/**
 * A /proc/<pid>/stat line split into the pid, the command name and its numbered fields (as in
 * proc(5), from 3 on). Fields are counted from the LAST ')', because the command name may hold
 * spaces and parentheses. The one splitter of that format in the runner.
 */
export function splitPidStat(
  text: string,
): { pid: number; comm: string; field: (n: number) => string | undefined } | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    field: (n) => rest[n - 3],
  };
}

/** The fields of /proc/<pid>/stat this module uses, or undefined for a malformed line. */
export function parsePidStat(text: string): PidStat | undefined {
  const split = splitPidStat(text);
  if (split === undefined) return undefined;
  const { pid, comm } = split;
  const field = (n: number): number => Number(split.field(n));
  const parsed = {
    pid,
    comm,
    state: split.field(3) ?? "",
    ppid: field(4),
    utimeTicks: field(14),
    stimeTicks: field(15),
    threads: field(20),
    startTicks: field(22),
  };
  const numbers = [parsed.pid, parsed.ppid, parsed.utimeTicks, parsed.stimeTicks, parsed.threads];
  if (
    parsed.state === "" ||
    numbers.some((n) => !Number.isInteger(n)) ||
    !Number.isFinite(parsed.startTicks)
  ) {
    return undefined;
  }
  return parsed;
}

/** Parses /proc/<pid>/statm ("size resident shared text lib data dt", in pages). */
export function parseStatm(text: string): PidStatm | undefined {
  const [size, resident, shared] = text.trim().split(/\s+/).map(Number);
  if (size === undefined || resident === undefined || shared === undefined) return undefined;
  if (![size, resident, shared].every(Number.isInteger)) return undefined;
  return { sizePages: size, residentPages: resident, sharedPages: shared };
}

/**
 * Reads a process's memory and CPU time, or undefined if it does not exist (any more). CPU time
 * is the process's own; that of children it has not waited for is not included (the runner's
 * cgroup accounting covers a whole process tree).
 */
export function processStats(pid: number, files: HostFiles = realHostFiles): ProcessStats | undefined {
  const stat = parsePidStat(files.readText(`/proc/${pid}/stat`) ?? "");
  const statm = parseStatm(files.readText(`/proc/${pid}/statm`) ?? "");
  if (stat === undefined || statm === undefined) return undefined;
  const { pageSize, clockTicks } = systemConstants(files);
  const toMs = (ticks: number): number => Math.round((ticks * 1000) / clockTicks);
  const userCpuMs = toMs(stat.utimeTicks);
  const systemCpuMs = toMs(stat.stimeTicks);
  return {
    pid: stat.pid,
    state: stat.state,
    rssBytes: statm.residentPages * pageSize,
    cpuMs: userCpuMs + systemCpuMs,
    userCpuMs,
    systemCpuMs,
    threads: stat.threads,
    startTicks: stat.startTicks,
  };
}
