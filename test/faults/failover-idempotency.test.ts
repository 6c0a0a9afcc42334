/**
 * Idempotency end to end, through a real runner's order path (src/gateway/gateway.test.ts proves
 * both cases on the gateway alone):
 *
 * - a replayed clientOrderId: the pinger re-sends the id of 25 slots earlier with every 5th order;
 *   the gateway answers `duplicate` and never sends it to the broker again;
 * - a retry after a broker timeout with an unknown outcome: the gateway runs with a 200 ms broker
 *   timeout and a paper broker that answers some ids (every 50th slot) 1.5 s late while executing
 *   them. The gateway replies `pending` at the timeout; the pinger's re-send of that id 500 ms
 *   later, while the outcome is still unknown, is a `duplicate`; the late answer is recorded; the
 *   order is executed (filled) once.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AuditRecord } from "../../src/gateway/index.ts";
import { auditReport, FaultCluster, LAYOUT, sleep, until } from "./failover-kit.ts";
import { assertSafe } from "./fault-assert.ts";
import { netnsUsable, requireNetns } from "./lib/index.ts";

const DELAYED = "^o-\\d*(00|50)$";

/** Ids whose audit shows: broker timeout (pending), then a duplicate, then the late answer. */
function retriedWhileUnknown(records: readonly AuditRecord[]): string[] {
  const seen = new Map<string, string[]>();
  for (const r of records) {
    if (r.clientOrderId === null) continue;
    const step =
      r.kind === "broker" && r.outcome === "pending"
        ? "pending"
        : r.kind === "order" && r.outcome === "duplicate"
          ? "duplicate"
          : r.kind === "broker" && r.outcome === "late-answer"
            ? "late"
            : undefined;
    if (step === undefined) continue;
    const steps = seen.get(r.clientOrderId) ?? [];
    steps.push(step);
    seen.set(r.clientOrderId, steps);
  }
  return [...seen]
    .filter(([, steps]) => {
      const p = steps.indexOf("pending");
      const d = steps.indexOf("duplicate", p + 1);
      return p >= 0 && d > p && steps.indexOf("late", d + 1) > d;
    })
    .map(([id]) => id);
}

test("idempotency through a runner: replayed ids are duplicates; a retry after a broker timeout executes once", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const c = await FaultCluster.start({
    lateBroker: { delayIdPattern: DELAYED, delayMs: 1_500, brokerTimeoutMs: 200 },
  });
  try {
    const active = await until("active", () => c.role("active"));
    const retried = await until(
      "a retry while the outcome was unknown, and its late answer",
      () => {
        const ids = retriedWhileUnknown(c.audit());
        return ids.length >= 2 ? ids : undefined;
      },
      15_000,
    );
    // Stop trading and let the last late answers arrive, so the broker's books can be compared.
    await c.api.stopLayout(LAYOUT);
    await until(
      "the pinger stopped",
      async () => (await c.deployment(active.id)) === undefined || undefined,
      10_000,
    );
    await sleep(2_000);
    const snap = c.snapshot();
    const records = snap.audit;
    const report = auditReport("idempotency", records, undefined);
    const mine = records.filter((r) => r.deploymentId === active.id);
    const duplicates = mine.filter((r) => r.kind === "order" && r.outcome === "duplicate").length;
    const pendings = records.filter((r) => r.kind === "broker" && r.outcome === "pending").length;
    const fillsOf = (id: string) => records.filter((r) => r.kind === "fill" && r.clientOrderId === id).length;
    t.diagnostic(
      JSON.stringify({
        accepted: mine.filter((r) => r.kind === "order" && r.outcome === "accepted").length,
        duplicateReplies: duplicates,
        brokerTimeouts: pendings,
        retriedWhileUnknown: retried,
        fillsOfRetried: retried.map(fillsOf),
        brokerDuplicateSubmissions: snap.brokerDuplicateSubmissions,
      }),
    );
    await assertSafe(t, c, report);
    assert.ok(duplicates > 0, "replayed ids reached the gateway and were answered duplicate");
    assert.equal(snap.brokerDuplicateSubmissions, 0, "the broker never saw an id twice");
    for (const id of retried) assert.ok(fillsOf(id) <= 1, `${id} filled ${fillsOf(id)} times`);
  } finally {
    await c.close();
  }
});
