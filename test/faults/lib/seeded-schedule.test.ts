/** Seeded fault schedules replay exactly, and the runner always heals what it cut. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { faultSeed, runSchedule, seededSchedule, type FaultStep } from "./seeded-schedule.ts";

const options = {
  cycles: 8,
  cut: { minMs: 100, maxMs: 900 },
  gap: { minMs: 50, maxMs: 400 },
  targets: ["orch", "gw"],
};

test("the same seed gives the same schedule; another seed another one", () => {
  const a = seededSchedule({ seed: 1234, ...options });
  const b = seededSchedule({ seed: 1234, ...options });
  assert.deepEqual(a.steps, b.steps);
  assert.equal(a.describe(), b.describe());
  assert.notDeepEqual(seededSchedule({ seed: 1235, ...options }).steps, a.steps);
  assert.match(a.describe(), /^HIVE_FAULT_SEED=1234 \(8 cycles, \d+ ms\): (orch|gw)@\d+\+\d+/);
});

test("steps stay in their ranges and follow one another", () => {
  const s = seededSchedule({ seed: 99, ...options, cycles: 200 });
  let at = 0;
  for (const step of s.steps) {
    assert.ok(step.gapMs >= 50 && step.gapMs <= 400 && step.cutMs >= 100 && step.cutMs <= 900);
    assert.equal(step.cutAtMs, at + step.gapMs);
    assert.equal(step.healAtMs, step.cutAtMs + step.cutMs);
    at = step.healAtMs;
  }
  assert.equal(s.totalMs, at);
  assert.deepEqual(new Set(s.steps.map((x) => x.target)), new Set(["orch", "gw"]));
});

test("faultSeed reads HIVE_FAULT_SEED (decimal or hex) and rejects garbage", () => {
  assert.equal(faultSeed({ HIVE_FAULT_SEED: "42" }), 42);
  assert.equal(faultSeed({ HIVE_FAULT_SEED: "0xff" }), 255);
  assert.throws(() => faultSeed({ HIVE_FAULT_SEED: "-1" }), /HIVE_FAULT_SEED=-1/);
  assert.throws(() => faultSeed({ HIVE_FAULT_SEED: "abc" }), /want an integer/);
  const random = faultSeed({});
  assert.ok(Number.isInteger(random) && random >= 0);
  assert.throws(() => seededSchedule({ ...options, seed: 1, cut: { minMs: 5, maxMs: 1 } }), /minMs <= maxMs/);
});

test("runSchedule cuts and heals in order, and heals the current cut when aborted", async () => {
  const schedule = seededSchedule({
    seed: 7,
    cycles: 3,
    cut: { minMs: 1, maxMs: 5 },
    gap: { minMs: 0, maxMs: 3 },
    targets: ["x"],
  });
  const log: string[] = [];
  const record = (what: string) => (t: string, s: FaultStep) => {
    log.push(`${what} ${t} ${s.index}`);
    return Promise.resolve();
  };
  await runSchedule(schedule, { cut: record("cut"), heal: record("heal") });
  assert.deepEqual(log, ["cut x 0", "heal x 0", "cut x 1", "heal x 1", "cut x 2", "heal x 2"]);

  log.length = 0;
  const controller = new AbortController();
  const long = seededSchedule({
    seed: 7,
    cycles: 2,
    cut: { minMs: 60_000, maxMs: 60_000 },
    gap: { minMs: 0, maxMs: 0 },
    targets: ["x"],
  });
  const running = runSchedule(
    long,
    {
      cut: async (t, s) => {
        await record("cut")(t, s);
        controller.abort(new Error("stop"));
      },
      heal: record("heal"),
    },
    controller.signal,
  );
  await assert.rejects(running, /stop/);
  assert.deepEqual(log, ["cut x 0", "heal x 0"]);
});
