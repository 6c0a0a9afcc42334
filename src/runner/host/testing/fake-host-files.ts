import type { HostFiles } from "../host-files.ts";

/** An in-memory HostFiles for tests: a fixed map from path to content, editable between reads. */
export class FakeHostFiles implements HostFiles {
  private readonly files = new Map<string, string | Uint8Array>();

  constructor(files: Record<string, string | Uint8Array> = {}) {
    for (const [path, content] of Object.entries(files)) this.files.set(path, content);
  }

  /** Sets (or replaces) a file's content. */
  set(path: string, content: string | Uint8Array): this {
    this.files.set(path, content);
    return this;
  }

  /** Removes a file, as when a process exits. */
  delete(path: string): this {
    this.files.delete(path);
    return this;
  }

  readText(path: string): string | undefined {
    const content = this.files.get(path);
    if (content === undefined) return undefined;
    return typeof content === "string" ? content : Buffer.from(content).toString("utf8");
  }

  readBytes(path: string): Uint8Array | undefined {
    const content = this.files.get(path);
    if (content === undefined) return undefined;
    return typeof content === "string" ? Buffer.from(content, "utf8") : content;
  }
}
