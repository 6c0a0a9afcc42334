/**
 * The seam between the dataset cache and the filesystems: measuring a source, copying it with
 * progress, and the few directory operations the cache needs. NodeDatasetFs is the real one;
 * FakeDatasetFs (testing/fake-dataset-fs.ts) is the fake.
 *
 * Two rules of the real one (docs/security.md, "Strategies without root"):
 * - a load never follows a symbolic link: the source and everything under it are looked at with
 *   lstat, a link anywhere (to a file inside the source or outside it, to a directory, dangling)
 *   fails the load with its path, and each file is opened with O_NOFOLLOW and checked to be the
 *   very file measured (device and inode), so a link swapped in after the scan is refused too;
 * - the copy in RAM is readable by every deployment and writable by none: files 0444, directories
 *   0755, owned by the runner (root where deployments have uids of their own).
 */
import { constants as fsConstants, type Dirent } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  statfs,
  writeFile,
} from "node:fs/promises";
import { basename, join } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/** One regular file of a source, relative to what is copied. */
export interface SourceFile {
  readonly relativePath: string;
  readonly bytes: number;
  /** `<device>:<inode>` as measured, where the filesystem tells it: the copy opens that file or none. */
  readonly identity?: string;
}

/** What a source holds: one file, or a tree of files and (possibly empty) directories. */
export interface SourceTree {
  readonly kind: "file" | "directory";
  /** For a file source, one entry named after the file. */
  readonly files: readonly SourceFile[];
  /** Sub-directories of a directory source, parents before children. */
  readonly directories: readonly string[];
}

/** The filesystem a cache directory lives on. */
export interface FilesystemInfo {
  /** Bytes an unprivileged writer may still use. */
  readonly freeBytes: number;
  /** True on tmpfs or ramfs: what the cache's directory should be. */
  readonly ramBacked: boolean;
}

/** The filesystem operations of the dataset cache. */
export interface DatasetFs {
  /** Measures a source; undefined if it does not exist. */
  scan(source: string): Promise<SourceTree | undefined>;
  /**
   * Copies one file to a new path (read-only for all), calling onBytes after each chunk; stops
   * when signal aborts. Never follows a symbolic link; with `identity`, refuses any file but that one.
   */
  copyFile(
    from: string,
    to: string,
    onBytes: (bytes: number) => void,
    signal: AbortSignal,
    identity?: string,
  ): Promise<void>;
  /** Creates a directory and its parents. */
  mkdir(path: string): Promise<void>;
  /** Renames a file or directory atomically. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file or directory tree; nothing there is fine. */
  remove(path: string): Promise<void>;
  /** Names in a directory with whether each is a directory; empty if it does not exist. */
  list(dir: string): Promise<{ name: string; directory: boolean }[]>;
  /** A small text file's content, or undefined if it does not exist. */
  readText(path: string): Promise<string | undefined>;
  /** Writes a small text file. */
  writeText(path: string, text: string): Promise<void>;
  /** Free space and kind of the filesystem holding path. */
  filesystem(path: string): Promise<FilesystemInfo>;
}

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
const COPY_CHUNK = 4 * 2 ** 20;

/** Modes of the copy in RAM: readable by all, writable by none but the runner's directories. */
export const DATASET_FILE_MODE = 0o444;
export const DATASET_DIR_MODE = 0o755;

/** `<device>:<inode>`: which file a path named when it was measured. */
function identityOf(st: { dev: number; ino: number }): string {
  return `${st.dev}:${st.ino}`;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** The real filesystem, through node:fs/promises. */
export class NodeDatasetFs implements DatasetFs {
  async scan(source: string): Promise<SourceTree | undefined> {
    let info;
    try {
      info = await lstat(source);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    if (info.isSymbolicLink()) throw symbolicLink(source);
    if (info.isFile())
      return {
        kind: "file",
        files: [{ relativePath: basename(source), bytes: info.size, identity: identityOf(info) }],
        directories: [],
      };
    if (!info.isDirectory()) throw unsupported(source, "it is neither a regular file nor a directory");
    const files: SourceFile[] = [];
    const directories: string[] = [];
    await walk(source, "", files, directories);
    return { kind: "directory", files, directories };
  }

  async copyFile(
    from: string,
    to: string,
    onBytes: (bytes: number) => void,
    signal: AbortSignal,
    identity?: string,
  ): Promise<void> {
    signal.throwIfAborted();
    const input = await open(from, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch((err: unknown) => {
      throw (err as NodeJS.ErrnoException).code === "ELOOP" ? symbolicLink(from, err) : err;
    });
    try {
      const opened = await input.stat();
      if (!opened.isFile()) throw unsupported(from, "it is not a regular file");
      if (identity !== undefined && identityOf(opened) !== identity)
        throw unsupported(
          from,
          "it is not the file measured a moment ago (a directory above it replaced, by a symbolic link perhaps)",
        );
      const output = await open(
        to,
        fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
        DATASET_FILE_MODE,
      );
      try {
        // Whatever the umask: readable by every deployment (the creator may still write this fd).
        await output.chmod(DATASET_FILE_MODE);
        const buffer = Buffer.allocUnsafe(COPY_CHUNK);
        for (;;) {
          signal.throwIfAborted();
          const { bytesRead } = await input.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          let written = 0;
          while (written < bytesRead) {
            const { bytesWritten } = await output.write(buffer, written, bytesRead - written);
            written += bytesWritten;
          }
          onBytes(bytesRead);
        }
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
  }

  async mkdir(path: string): Promise<void> {
    await mkdir(path, { recursive: true, mode: DATASET_DIR_MODE });
    await chmod(path, DATASET_DIR_MODE);
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }

  async remove(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }

  async list(dir: string): Promise<{ name: string; directory: boolean }[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    return entries.map((e) => ({ name: e.name, directory: e.isDirectory() }));
  }

  async readText(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, "utf8");
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async writeText(path: string, text: string): Promise<void> {
    await writeFile(path, text, { flag: "wx", mode: DATASET_FILE_MODE });
    await chmod(path, DATASET_FILE_MODE);
  }

  async filesystem(path: string): Promise<FilesystemInfo> {
    const info = await statfs(path);
    return {
      freeBytes: info.bavail * info.bsize,
      ramBacked: info.type === TMPFS_MAGIC || info.type === RAMFS_MAGIC,
    };
  }
}

// Lists a directory tree: regular files, and every sub-directory so that empty ones are recreated
// too. A symbolic link, wherever it points, fails the load with its path.
async function walk(
  root: string,
  relative: string,
  files: SourceFile[],
  directories: string[],
): Promise<void> {
  const entries = await readdir(join(root, relative), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const rel = relative === "" ? entry.name : join(relative, entry.name);
    const full = join(root, rel);
    if (entry.isDirectory()) {
      directories.push(rel);
      await walk(root, rel, files, directories);
    } else if (entry.isFile()) {
      const info = await lstat(full);
      files.push({ relativePath: rel, bytes: info.size, identity: identityOf(info) });
    } else if (entry.isSymbolicLink()) {
      throw symbolicLink(full);
    } else {
      throw unsupported(full, "it is neither a regular file nor a directory");
    }
  }
}

function unsupported(path: string, why: string, cause?: unknown): HiveError {
  return new HiveError(
    ErrorCode.InvalidArgument,
    `cannot load dataset source ${path}: ${why} (expected regular files and directories)`,
    { cause },
  );
}

function symbolicLink(path: string, cause?: unknown): HiveError {
  return new HiveError(
    ErrorCode.InvalidArgument,
    `cannot load dataset source ${path}: it is a symbolic link, and a load never follows one ` +
      `(it could lead out of the source); copy the file it points to into the source instead`,
    { cause },
  );
}
