/**
 * Fault: flapping partitions. On a seeded, replayable schedule (HIVE_FAULT_SEED), the runner of
 * whichever deployment is active at that moment is cut from the orchestrator and healed again,
 * cycle after cycle: some cuts are shorter than the lease, some longer than the self-fence grace
 * but shorter than down-after, some longer (a failover). Resting orders are open at the broker
 * during the cuts (every 7th order of the pinger rests). Over the whole run the audit must show the
 * invariant: nothing fenced accepted, no duplicate execution, the books equal the fills, and at
 * most one deployment accepted at any instant — once a newer epoch is accepted, never an older one.
 *
 * HIVE_FLAP_CYCLES sets the number of cycles (default 6).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { auditReport, FaultCluster, type FaultRunner, ordersFrom, sleep, until } from "./failover-kit.ts";
import { assertSafe } from "./fault-assert.ts";
import { faultSeed, netnsUsable, requireNetns, runSchedule, seededSchedule } from "./lib/index.ts";

test("flapping partitions of the active runner on a seeded schedule: at most one deployment accepted at any instant", async (t) => {
  if (!netnsUsable(t, await requireNetns())) return;
  const schedule = seededSchedule({
    seed: faultSeed(),
    cycles: Number(process.env["HIVE_FLAP_CYCLES"] ?? 6),
    cut: { minMs: 200, maxMs: 2_000 },
    gap: { minMs: 300, maxMs: 1_200 },
    targets: ["active"],
  });
  t.diagnostic(schedule.describe());
  const c = await FaultCluster.start({ runners: 3 });
  try {
    const startedAt = Date.now();
    const cut = new Map<number, FaultRunner>();
    const actions: string[] = [];
    await runSchedule(schedule, {
      cut: async (_target, step) => {
        const active = await c.anyRole("active");
        const r = active?.nodeId ? c.runnerOf(active) : undefined;
        actions.push(r ? `${step.index}:${r.nodeId.slice(-2)}+${step.cutMs}` : `${step.index}:none`);
        if (!r) return;
        cut.set(step.index, r);
        await r.ns.cutTo(c.orchestratorHost);
      },
      heal: async (_target, step) => {
        await cut.get(step.index)?.ns.heal(c.orchestratorHost);
      },
    });
    const healedAt = Date.now();
    // The last cut may still end in a failover just after the heal (the orchestrator's down-after
    // runs out a moment later): so not the active of this instant, but whichever is active when
    // it trades, must trade.
    const trading = await until(
      "an order accepted from the active after the last heal",
      async () => {
        const active = await c.role("active");
        if (active === undefined) return undefined;
        return ordersFrom(c.audit(), active.id, healedAt).find((r) => r.outcome === "accepted");
      },
      20_000,
    );
    await sleep(300);
    const records = c.audit();
    const report = auditReport("flapping", records, undefined, schedule.seed);
    const fences = records.filter(
      (r) => r.kind === "fence" && r.outcome === "fenced" && r.decidedAtMs >= startedAt,
    );
    t.diagnostic(
      JSON.stringify({
        seed: schedule.seed,
        cuts: actions,
        failovers: fences.length,
        epochs: fences.map((r) => r.epoch),
        cancelledResting: records.filter((r) => r.kind === "cancel" && r.decidedAtMs >= startedAt).length,
        healToTradingMs: trading.decidedAtMs - healedAt,
      }),
    );
    await assertSafe(t, c, report);
    assert.equal(report.epochRegressions, 0, `interleaved deployments (${schedule.describe()})`);
  } finally {
    await c.close();
  }
});
