/**
 * Temporary directories a test file makes and removes at the end, wherever they live (the temp
 * directory, /dev/shm for RAM-backed data).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A set of temporary directories: `make` one, `removeAll` in the file's `after`. */
export function tempDirs(): { make(prefix: string, base?: string): string; removeAll(): void } {
  const dirs: string[] = [];
  return {
    make(prefix, base = tmpdir()) {
      const d = mkdtempSync(join(base, prefix));
      dirs.push(d);
      return d;
    },
    removeAll() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
