/**
 * A directory of one deployment's own (its ipc directory): created 0700 and owned by its uid and
 * gid, so that it can use what is inside and no other deployment can even look in. The modes are
 * set, not only asked at creation, so a directory left by an earlier run is tightened too.
 */
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import type { RunAs } from "./run-as.ts";

/** The mode of a deployment's own directory. */
export const OWNED_DIR_MODE = 0o700;

/**
 * The mode of a runner directory a deployment must pass through but not list (the run directory
 * above the ipc directories): search for all, read and write for the runner only.
 */
export const PASS_THROUGH_DIR_MODE = 0o711;

/** Creates `dir` (and its parents) and makes it `runAs`'s alone (0700); synchronous, a few system calls. */
export function makeOwnedDir(dir: string, runAs: RunAs): void {
  mkdirSync(dir, { recursive: true, mode: OWNED_DIR_MODE });
  chownSync(dir, runAs.uid, runAs.gid);
  chmodSync(dir, OWNED_DIR_MODE);
}

/** Hands an entry the runner made (a socket it bound) to `runAs`, so that the deployment can use it. */
export function handOver(path: string, runAs: RunAs): void {
  chownSync(path, runAs.uid, runAs.gid);
}
