import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { busyFraction, parseCpuStat, sumCpus } from "./cpu-times.ts";

const PROC_STAT = [
  "cpu  37670 10 5849 166171 113 1 43 25 7 0",
  "cpu0 18455 4 2751 83670 8 0 12 12 3 0",
  "cpu1 19215 6 3097 82500 104 1 31 13 4 0",
  "intr 1234 0 0",
  "ctxt 98765",
  "btime 1700000000",
  "",
].join("\n");

describe("parseCpuStat", () => {
  test("sums busy columns and leaves guest time out (it is inside user already)", () => {
    const stat = parseCpuStat(PROC_STAT);
    assert.ok(stat);
    // busy = user + nice + system + irq + softirq + steal; total adds idle + iowait.
    assert.deepEqual(stat.all, { busy: 37670 + 10 + 5849 + 1 + 43 + 25, total: 43598 + 166171 + 113 });
    assert.deepEqual(stat.perCpu.get(0), { busy: 18455 + 4 + 2751 + 0 + 12 + 12, total: 21234 + 83670 + 8 });
    assert.equal(stat.perCpu.size, 2);
  });

  test("accepts the four columns of old kernels", () => {
    assert.deepEqual(parseCpuStat("cpu 10 0 5 85\n")?.all, { busy: 15, total: 100 });
  });

  test("is undefined without an aggregate cpu line or with garbage in it", () => {
    assert.equal(parseCpuStat("cpu0 1 2 3 4\nintr 5\n"), undefined);
    assert.equal(parseCpuStat("cpu 1 2 x 4\n"), undefined);
    assert.equal(parseCpuStat(""), undefined);
  });

  test("sumCpus adds only the CPUs asked for, skipping offline ones", () => {
    const stat = parseCpuStat(PROC_STAT);
    assert.ok(stat);
    assert.deepEqual(sumCpus(stat, [1, 7]), stat.perCpu.get(1));
  });
});

describe("busyFraction", () => {
  test("is the busy share of the ticks between two readings", () => {
    assert.equal(busyFraction({ busy: 100, total: 1000 }, { busy: 150, total: 1200 }), 0.25);
    assert.equal(busyFraction({ busy: 0, total: 0 }, { busy: 200, total: 200 }), 1);
  });

  test("is undefined when no tick passed, and clamped to 0..1", () => {
    assert.equal(busyFraction({ busy: 5, total: 10 }, { busy: 5, total: 10 }), undefined);
    assert.equal(busyFraction({ busy: 10, total: 10 }, { busy: 5, total: 20 }), 0);
  });
});
