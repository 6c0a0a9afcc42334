/**
 * Test support for tests that need root (to start processes under other uids): false when this
 * process is root, else why the tests are skipped; under CI=true a machine without root FAILS the
 * test file with the reason instead (as cgroups/testing/real-cgroups.ts does for cgroups).
 */
import { ErrorCode, HiveError } from "../../../core/hive-error.ts";
import { runsAsRoot } from "../run-as.ts";

/** false, or why a test that needs root is skipped; throws under CI=true when not root. */
export function rootForTest(what: string): string | false {
  if (runsAsRoot()) return false;
  const reason = `${what} needs root (to start processes under uids of their own); this process is uid ${process.geteuid?.()}`;
  if (process.env["CI"] === "true")
    throw new HiveError(ErrorCode.FailedPrecondition, `CI=true requires root on the test machine: ${reason}`);
  return reason;
}

/** A small uid range no other test file running at the same time uses (by pid). */
export function uniqueTestUids(size: number): { first: number; last: number } {
  const first = 100_000 + (process.pid % 50_000) * 16;
  return { first, last: first + size - 1 };
}
