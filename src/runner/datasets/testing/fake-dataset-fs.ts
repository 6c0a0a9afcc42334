/**
 * An in-memory DatasetFs for tests: files are sizes (no content), copies advance chunk by chunk
 * through a hook a test can hold, and the free space is whatever the test says. It lets the
 * cache's ordering rules (shared loads, pins during loads, eviction under pressure) be tested
 * step by step, without timing.
 */
import { posix } from "node:path";
import type { DatasetFs, FilesystemInfo, SourceFile, SourceTree } from "../dataset-fs.ts";

type Node = { readonly kind: "dir" } | { readonly kind: "file"; bytes: number; text?: string };

function enoent(op: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${op} '${path}'`), { code: "ENOENT" });
}

/** The fake filesystem. Paths are absolute POSIX paths. */
export class FakeDatasetFs implements DatasetFs {
  private readonly nodes = new Map<string, Node>([["/", { kind: "dir" }]]);
  /** Bytes per copy step. */
  chunkBytes = 2 ** 20;
  /** The free space filesystem() reports; unlimited by default. */
  freeBytes = Number.MAX_SAFE_INTEGER;
  /** Awaited before each chunk of every copy: a test holds a copy in mid-flight with it. */
  beforeChunk: (to: string, copiedBytes: number) => Promise<void> = () => Promise.resolve();

  /** Adds a file of `bytes` bytes (and its parent directories). */
  addFile(path: string, bytes: number): this {
    this.ensureDir(posix.dirname(path));
    this.nodes.set(path, { kind: "file", bytes });
    return this;
  }

  /** Adds a directory (and its parents). */
  addDir(path: string): this {
    this.ensureDir(path);
    return this;
  }

  /** True if a file or directory exists at path. */
  exists(path: string): boolean {
    return this.nodes.has(path);
  }

  /** Every path under a directory (not itself), sorted: for assertions on what is left. */
  pathsUnder(dir: string): string[] {
    const prefix = dir.endsWith("/") ? dir : `${dir}/`;
    return [...this.nodes.keys()].filter((p) => p.startsWith(prefix)).sort();
  }

  scan(source: string): Promise<SourceTree | undefined> {
    const node = this.nodes.get(source);
    if (node === undefined) return Promise.resolve(undefined);
    if (node.kind === "file") {
      return Promise.resolve({
        kind: "file",
        files: [{ relativePath: posix.basename(source), bytes: node.bytes }],
        directories: [],
      });
    }
    const files: SourceFile[] = [];
    const directories: string[] = [];
    for (const path of this.pathsUnder(source)) {
      const child = this.nodes.get(path);
      const relativePath = path.slice(source.length + 1);
      if (child?.kind === "file") files.push({ relativePath, bytes: child.bytes });
      else directories.push(relativePath);
    }
    return Promise.resolve({ kind: "directory", files, directories });
  }

  async copyFile(
    from: string,
    to: string,
    onBytes: (bytes: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    signal.throwIfAborted();
    const source = this.nodes.get(from);
    if (source?.kind !== "file") throw enoent("open", from);
    if (this.nodes.get(posix.dirname(to))?.kind !== "dir") throw enoent("open", to);
    const target: Node = { kind: "file", bytes: 0 };
    this.nodes.set(to, target);
    while (target.bytes < source.bytes) {
      await this.beforeChunk(to, target.bytes);
      signal.throwIfAborted();
      if (this.nodes.get(to) !== target) throw enoent("write", to);
      const chunk = Math.min(this.chunkBytes, source.bytes - target.bytes);
      target.bytes += chunk;
      onBytes(chunk);
    }
  }

  mkdir(path: string): Promise<void> {
    this.ensureDir(path);
    return Promise.resolve();
  }

  rename(from: string, to: string): Promise<void> {
    if (!this.nodes.has(from)) return Promise.reject(enoent("rename", from));
    const moved = [from, ...this.pathsUnder(from)];
    for (const path of moved) {
      const node = this.nodes.get(path);
      this.nodes.delete(path);
      if (node !== undefined) this.nodes.set(to + path.slice(from.length), node);
    }
    return Promise.resolve();
  }

  remove(path: string): Promise<void> {
    for (const p of [path, ...this.pathsUnder(path)]) this.nodes.delete(p);
    return Promise.resolve();
  }

  list(dir: string): Promise<{ name: string; directory: boolean }[]> {
    const prefix = dir.endsWith("/") ? dir : `${dir}/`;
    const out: { name: string; directory: boolean }[] = [];
    for (const [path, node] of this.nodes) {
      if (!path.startsWith(prefix) || path.slice(prefix.length).includes("/") || path === prefix) continue;
      out.push({ name: path.slice(prefix.length), directory: node.kind === "dir" });
    }
    return Promise.resolve(out.sort((a, b) => (a.name < b.name ? -1 : 1)));
  }

  readText(path: string): Promise<string | undefined> {
    const node = this.nodes.get(path);
    return Promise.resolve(node?.kind === "file" ? (node.text ?? "") : undefined);
  }

  writeText(path: string, text: string): Promise<void> {
    if (this.nodes.get(posix.dirname(path))?.kind !== "dir") return Promise.reject(enoent("open", path));
    if (this.nodes.has(path)) {
      return Promise.reject(
        Object.assign(new Error(`EEXIST: file already exists, open '${path}'`), { code: "EEXIST" }),
      );
    }
    this.nodes.set(path, { kind: "file", bytes: Buffer.byteLength(text), text });
    return Promise.resolve();
  }

  filesystem(): Promise<FilesystemInfo> {
    return Promise.resolve({ freeBytes: this.freeBytes, ramBacked: true });
  }

  private ensureDir(path: string): void {
    for (let p = path; !this.nodes.has(p); p = posix.dirname(p)) this.nodes.set(p, { kind: "dir" });
  }
}
