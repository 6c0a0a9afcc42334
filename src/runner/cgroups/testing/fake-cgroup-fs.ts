/**
 * An in-memory CgroupFs for tests of the drivers' logic on layouts this machine does not have
 * (cgroup v2 here). It behaves like cgroupfs where the drivers depend on it: rmdir refuses a
 * directory with sub-directories or processes, cgroup.subtree_control takes "+x"/"-x", and
 * `onMkdir` can seed the files the kernel would create. Every write is recorded in order.
 */
import { dirname } from "node:path";
import type { CgroupFs } from "../cgroup-fs.ts";

/** A node-style error with a `code`, as node:fs throws. */
function fsError(code: string, path: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: ${path}`);
  error.code = code;
  return error;
}

/** cgroup.subtree_control semantics: "+a -b" turns a on and b off in the current list. */
function toggle(current: string | undefined, change: string): string {
  const on = new Set((current ?? "").split(/\s+/).filter((w) => w !== ""));
  for (const word of change.split(/\s+/)) {
    if (word.startsWith("+")) on.add(word.slice(1));
    if (word.startsWith("-")) on.delete(word.slice(1));
  }
  return [...on].join(" ");
}

/** The in-memory filesystem; directories and files are keyed by absolute path. */
export class FakeCgroupFs implements CgroupFs {
  /** Every write, in order, as [path, value]. */
  readonly writes: Array<[string, string]> = [];
  /** Paths whose writes fail with the given error code (e.g. EACCES), to test fallbacks. */
  readonly failWrites = new Map<string, string>();
  private readonly dirs = new Set<string>();
  private readonly files = new Map<string, string>();
  private readonly links = new Map<string, string>();

  constructor(private readonly onMkdir?: (path: string, fs: FakeCgroupFs) => void) {}

  /** Creates a directory and its parents, with no hooks: the test's starting tree. */
  addDir(path: string): void {
    for (let p = path; p !== "/" && !this.dirs.has(p); p = dirname(p)) this.dirs.add(p);
  }

  /** Makes `from` a symbolic link to the directory `to` (as "cpu" → "cpu,cpuacct" on many v1 hosts). */
  addLink(from: string, to: string): void {
    this.links.set(from, to);
  }

  /** Sets a file's content directly (not recorded as a write). */
  setFile(path: string, value: string): void {
    this.addDir(dirname(path));
    this.files.set(path, value);
  }

  /** A file's content, or undefined. */
  file(path: string): string | undefined {
    return this.files.get(path);
  }

  /** Whether a directory exists. */
  hasDir(path: string): boolean {
    return this.dirs.has(path);
  }

  read(rawPath: string): Promise<string> {
    const path = this.resolve(rawPath);
    const value = this.files.get(path);
    return value === undefined ? Promise.reject(fsError("ENOENT", path)) : Promise.resolve(value);
  }

  write(rawPath: string, value: string): Promise<void> {
    const path = this.resolve(rawPath);
    if (!this.dirs.has(dirname(path))) return Promise.reject(fsError("ENOENT", path));
    const failure = this.failWrites.get(path);
    if (failure !== undefined) return Promise.reject(fsError(failure, path));
    this.writes.push([path, value]);
    this.files.set(
      path,
      path.endsWith("/cgroup.subtree_control") ? toggle(this.files.get(path), value) : value,
    );
    return Promise.resolve();
  }

  mkdir(rawPath: string): Promise<boolean> {
    const path = this.resolve(rawPath);
    if (this.dirs.has(path)) return Promise.resolve(false);
    if (!this.dirs.has(dirname(path))) return Promise.reject(fsError("ENOENT", path));
    this.dirs.add(path);
    this.onMkdir?.(path, this);
    return Promise.resolve(true);
  }

  rmdir(rawPath: string): Promise<void> {
    const path = this.resolve(rawPath);
    if (!this.dirs.has(path)) return Promise.reject(fsError("ENOENT", path));
    if ([...this.dirs].some((d) => dirname(d) === path)) return Promise.reject(fsError("ENOTEMPTY", path));
    if ((this.files.get(`${path}/cgroup.procs`) ?? "").trim() !== "") {
      return Promise.reject(fsError("EBUSY", path));
    }
    this.dirs.delete(path);
    for (const file of [...this.files.keys()]) if (dirname(file) === path) this.files.delete(file);
    return Promise.resolve();
  }

  subdirs(rawPath: string): Promise<string[]> {
    const path = this.resolve(rawPath);
    if (!this.dirs.has(path)) return Promise.reject(fsError("ENOENT", path));
    const names = [...this.dirs].filter((d) => dirname(d) === path).map((d) => d.slice(path.length + 1));
    return Promise.resolve(names.sort());
  }

  exists(rawPath: string): Promise<boolean> {
    const path = this.resolve(rawPath);
    return Promise.resolve(this.dirs.has(path) || this.files.has(path));
  }

  isWritableDir(rawPath: string): Promise<boolean> {
    const path = this.resolve(rawPath);
    return Promise.resolve(this.dirs.has(path));
  }

  realpath(rawPath: string): Promise<string> {
    const path = this.resolve(rawPath);
    return this.exists(path).then((found) => (found ? path : Promise.reject(fsError("ENOENT", path))));
  }

  /** The path with a leading link replaced by its target. */
  private resolve(path: string): string {
    for (const [from, to] of this.links) {
      if (path === from || path.startsWith(`${from}/`)) return to + path.slice(from.length);
    }
    return path;
  }
}
