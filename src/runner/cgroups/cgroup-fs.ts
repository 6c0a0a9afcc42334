/**
 * The file operations cgroup drivers need, behind an interface: cgroupfs is a filesystem whose
 * directories are created with mkdir and removed with rmdir (never unlinked file by file), and
 * whose files take one value per write. The real one is node:fs; FakeCgroupFs is the fake.
 */
import { constants } from "node:fs";
import { access, mkdir, readFile, readdir, realpath, rmdir, stat, writeFile } from "node:fs/promises";

/** What a cgroup driver does to the filesystem. Errors are node's (with `code`), not wrapped. */
export interface CgroupFs {
  /** The whole content of a file. */
  read(path: string): Promise<string>;
  /** Writes one value to a control file (one write call, as the kernel wants). */
  write(path: string, value: string): Promise<void>;
  /** Creates one directory; false if it existed already. */
  mkdir(path: string): Promise<boolean>;
  /** Removes one (cgroup) directory. */
  rmdir(path: string): Promise<void>;
  /** Names of the sub-directories of a directory. */
  subdirs(path: string): Promise<string[]>;
  /** Whether the path exists. */
  exists(path: string): Promise<boolean>;
  /** Whether the path is a directory we may create entries in. */
  isWritableDir(path: string): Promise<boolean>;
  /** The path with symbolic links resolved (v1 controllers are often co-mounted behind links). */
  realpath(path: string): Promise<string>;
}

/** The real cgroupfs, through node:fs. */
export const nodeCgroupFs: CgroupFs = {
  read: (path) => readFile(path, "utf8"),
  write: (path, value) => writeFile(path, value),
  async mkdir(path) {
    try {
      await mkdir(path);
      return true;
    } catch (error) {
      if (errorCode(error) === "EEXIST") return false;
      throw error;
    }
  },
  rmdir: (path) => rmdir(path),
  async subdirs(path) {
    const entries = await readdir(path, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  },
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch {
      return false; // not there, or not ours to see
    }
  },
  async isWritableDir(path) {
    try {
      if (!(await stat(path)).isDirectory()) return false;
      await access(path, constants.W_OK);
      return true;
    } catch {
      return false; // not there, or not writable
    }
  },
  realpath: (path) => realpath(path),
};

/** The `code` of a node system error ("ENOENT", "EBUSY", ...), or undefined. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = error.code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
