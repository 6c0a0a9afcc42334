/**
 * Test support for tests that need the real kernel's cgroups. Each test file gets its own parent
 * group (`hive-test-<pid>-<random>`), so files running in parallel never see each other's groups,
 * and removes it at the end. Under CI=true a machine without root or writable cgroups FAILS the
 * test file with the reason; elsewhere the tests are skipped with it.
 */
import { ErrorCode, HiveError } from "../../../core/hive-error.ts";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { CgroupDriver } from "../cgroup.ts";
import { destroyAllGroups, detectCgroups } from "../detect-cgroups.ts";

/** A real driver for a test file, or why there is none. */
export interface RealCgroups {
  /** The driver, when the machine has writable cgroups (v1 or v2). */
  readonly driver: CgroupDriver | undefined;
  /** false, or why the tests that need the driver are skipped (for `it(..., { skip })`). */
  readonly skip: string | false;
  /** The unique parent group of this file. */
  readonly parent: string;
}

/** A parent group name no other test run uses. */
export function uniqueTestParent(): string {
  return `hive-test-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** Detects the real driver under a unique parent; throws under CI=true if there is none. */
export async function realCgroupsForTest(root = "/sys/fs/cgroup"): Promise<RealCgroups> {
  const parent = uniqueTestParent();
  let reason: string | undefined;
  let driver: CgroupDriver | undefined;
  if (process.getuid?.() !== 0) reason = "these tests need root to write cgroups";
  else {
    driver = await detectCgroups({ root, parent });
    if (driver.kind === "none") {
      reason = `these tests need writable cgroups: ${driver.describe()}`;
      driver = undefined;
    }
  }
  if (reason !== undefined && process.env["CI"] === "true") {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `CI=true requires root and writable cgroups on the test machine, but ${reason}`,
    );
  }
  return { driver, skip: reason ?? false, parent };
}

/**
 * Destroys every group left under the file's parent, removes the parent and asserts that no
 * directory of that name is left in any hierarchy under `root`. For an `after` hook.
 */
export async function cleanUpTestCgroups(env: RealCgroups, root = "/sys/fs/cgroup"): Promise<void> {
  const { driver } = env;
  if (!driver) return;
  const left = await destroyAllGroups(driver);
  assert.deepEqual(await findDirs(root, env.parent), [], `cgroup parent ${env.parent} was left behind`);
  assert.deepEqual(left, [], `groups left under ${env.parent} by the tests (now removed)`);
}

/** Every directory named `name` directly under a hierarchy of `root` (or under root itself). */
async function findDirs(root: string, name: string): Promise<string[]> {
  const found: string[] = [];
  // A hierarchy that cannot be listed holds none of this file's groups.
  const tops = [root, ...(await readdir(root).catch(() => [])).map((h) => join(root, h))];
  for (const dir of tops) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    if (entries.some((e) => e.isDirectory() && e.name === name)) found.push(join(dir, name));
  }
  return found;
}
