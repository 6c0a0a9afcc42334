/** The checks every fault test makes on its audit report, and the one line it prints. */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { ACCOUNT, type FaultCluster, type FaultReport } from "./failover-kit.ts";

/**
 * Asserts the safety invariant on a report (no fenced order accepted, none accepted after its
 * deployment was fenced out, no duplicate execution, no negative overlap, the gateway's books equal
 * to the audited fills) and prints the report as one JSON line (`t.diagnostic`).
 */
export async function assertSafe(t: TestContext, c: FaultCluster, report: FaultReport): Promise<void> {
  t.diagnostic(JSON.stringify(report));
  assert.equal(report.fencedAccepted, 0, "orders accepted while fenced to another deployment/epoch");
  assert.equal(report.acceptedAfterFencedOut, 0, "orders accepted from a fenced-out deployment");
  assert.equal(report.duplicateExecutions, 0, "clientOrderIds sent to the broker twice");
  assert.equal(report.duplicateFills, 0, "clientOrderIds filled twice");
  if (report.overlapGapMs !== null) assert.ok(report.overlapGapMs >= 0, `overlap ${report.overlapGapMs} ms`);
  const [view] = await c.api.accounts(ACCOUNT);
  const book = Object.values(view?.positions ?? {}).reduce((a, b) => a + b, 0);
  assert.equal(book, report.positionFromFills, "the gateway's books match the fills it audited");
}
