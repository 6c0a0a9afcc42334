/** The checks every fault test makes on its audit report, and the one line it prints. */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import {
  positionsFromFills,
  readSnapshot,
  type FaultReport,
  type FaultTimings,
  type OldActiveProbes,
} from "./failover-kit.ts";

/**
 * Asserts the safety invariant on a report (no fenced order accepted, none accepted after its
 * deployment was fenced out, no duplicate execution, no negative overlap, no accepted epoch going
 * back in time, the gateway's books equal to the audited fills and to the broker's positions) and
 * prints the report as one JSON line (`t.diagnostic`). The books are compared on one consistent
 * read of the gateway's database (the strategy may still be trading).
 */
export function assertSafe(
  t: TestContext,
  c: { readonly gatewayState: string },
  report: FaultReport,
): Promise<void> {
  // A Promise for the callers that await it; the checks themselves are synchronous reads.
  t.diagnostic(JSON.stringify(report));
  assert.equal(report.fencedAccepted, 0, "orders accepted while fenced to another deployment/epoch");
  assert.equal(report.acceptedAfterFencedOut, 0, "orders accepted from a fenced-out deployment");
  assert.equal(report.duplicateExecutions, 0, "clientOrderIds sent to the broker twice");
  assert.equal(report.duplicateFills, 0, "clientOrderIds filled twice");
  if (report.overlapGapMs !== null) assert.ok(report.overlapGapMs >= 0, `overlap ${report.overlapGapMs} ms`);
  assert.equal(
    report.epochRegressions,
    0,
    "an older epoch (or another deployment at the same epoch) accepted after a newer one",
  );
  const snap = readSnapshot(c.gatewayState);
  const fills = positionsFromFills(snap.audit);
  assert.deepEqual(nonZero(snap.books), nonZero(fills), "the gateway's books match the fills it audited");
  // The broker's own positions may run ahead of the gateway's while a late answer is outstanding
  // (it executed, the gateway has not heard yet): those must match once it has heard.
  assert.deepEqual(nonZero(snap.broker), nonZero(fills), "the broker's positions match the audited fills");
  assert.equal(snap.brokerDuplicateSubmissions, 0, "the broker was sent an id it had seen");
  return Promise.resolve();
}

/** Positions without the zero entries (a flat position may or may not have a row). */
function nonZero(p: Record<string, Record<string, number>>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [account, bySymbol] of Object.entries(p))
    for (const [symbol, qty] of Object.entries(bySymbol))
      if (Math.abs(qty) > 1e-9) (out[account] ??= {})[symbol] = qty;
  return out;
}

/**
 * The one timing a fault test checks, a sanity bound that cannot flake: the first order from the
 * new deployment came no earlier than the node could have been called down. The orchestrator
 * counts down-after from the last heartbeat it received, which may be up to a heartbeat interval
 * (more if the runner was slow to send) before the fault: hence down-after minus two intervals.
 */
export function assertNotBeforeDown(c: { readonly timings: FaultTimings }, report: FaultReport): void {
  const floor = c.timings.downAfterMs - 2 * c.timings.heartbeatMs;
  assert.ok(
    report.faultToFirstOrderMs !== null && report.faultToFirstOrderMs >= floor,
    `failover took ${report.faultToFirstOrderMs} ms: before the node could be called down (${floor} ms)`,
  );
}

/** The answers to the old-active probes as fields of a test's diagnostic line. */
export function probeDiagnostics(p: OldActiveProbes): {
  probeAsOldActive: string;
  probeAsOldActiveFromNewNode: string;
} {
  return {
    probeAsOldActive: `${p.fromOldNode.type} ${String(p.fromOldNode["code"])}`,
    probeAsOldActiveFromNewNode: `${p.fromNewNode.type} ${String(p.fromNewNode["code"])}`,
  };
}

/**
 * Asserts the gateway's answers to the old-active probes (FaultCluster.probeOldActive): its own
 * node, hosting nothing fenced, cannot connect; from the admitted new node it is refused as fenced.
 */
export function assertOldActiveProbes(p: OldActiveProbes): void {
  assert.deepEqual(
    [p.fromOldNode.type, p.fromOldNode["code"]],
    ["none", "not-admitted"],
    "the old active's node, hosting nothing fenced, cannot connect",
  );
  assert.deepEqual(
    [p.fromNewNode.type, p.fromNewNode["code"]],
    ["reject", "fenced"],
    "an order as the old active from the node the gateway admits",
  );
}
