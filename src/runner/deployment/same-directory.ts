/** Comparing directories as directories, not as strings. */
import { realpathSync } from "node:fs";
import { resolve } from "node:path";

/**
 * Whether two paths name one directory: the same once resolved ("/run/hive/n1/" and
 * "/run/hive/n1"), or the same real directory (a symlink). A path that does not exist names no
 * directory another one could be.
 */
export function sameDirectory(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false; // one does not exist (yet): not provably the same
  }
}
