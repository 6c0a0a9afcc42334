import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HiveError } from "../../core/hive-error.ts";
import {
  assertCgroupName,
  assertCpusAllowed,
  cfsQuotaMicros,
  formatCpuList,
  parentSegments,
  mustParseCpuList,
  validateLimits,
} from "./limit-checks.ts";

const invalid = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof HiveError && e.code === "invalid_argument" && pattern.test(e.message),
  );

describe("cgroup limits", () => {
  it("converts cores to a CFS quota per 100 ms period", () => {
    assert.equal(cfsQuotaMicros(0.5), 50_000);
    assert.equal(cfsQuotaMicros(2), 200_000);
    assert.equal(cfsQuotaMicros(0.25), 25_000);
    assert.equal(cfsQuotaMicros(0.001), 1_000, "never below the kernel's minimum");
  });

  it("formats and parses cpu lists as the kernel writes them", () => {
    assert.equal(formatCpuList([5, 0, 1, 2]), "0-2,5");
    assert.equal(formatCpuList([1]), "1");
    assert.equal(formatCpuList([3, 1]), "1,3");
    assert.deepEqual(mustParseCpuList("0-2,5\n"), [0, 1, 2, 5]);
    assert.deepEqual(mustParseCpuList(""), []);
    assert.throws(() => mustParseCpuList("0-x"));
  });

  it("accepts sane limits and names the field of a bad one", () => {
    validateLimits({});
    validateLimits({ memoryBytes: 64 * 2 ** 20, cpuQuotaCores: 0.5, cpus: [0, 1], pidsMax: 64 });
    invalid(() => validateLimits({ memoryBytes: 100 }), /memoryBytes=100/);
    invalid(() => validateLimits({ cpuQuotaCores: 0 }), /cpuQuotaCores/);
    invalid(() => validateLimits({ cpus: [] }), /cpus/);
    invalid(() => validateLimits({ cpus: [1, 1] }), /distinct/);
    invalid(() => validateLimits({ pidsMax: 0.5 }), /pidsMax/);
  });

  it("accepts only one safe path component as a name", () => {
    assertCgroupName("d-42.live_1");
    for (const bad of ["", ".", "..", "a/b", "-x", "a b", "x".repeat(200)]) {
      invalid(() => assertCgroupName(bad), /invalid cgroup name/);
    }
    assert.deepEqual(parentSegments("hive/runner-1/"), ["hive", "runner-1"]);
    invalid(() => parentSegments("hive/../etc"), /parent component/);
  });

  it("refuses cores the parent does not have, naming both", () => {
    assertCpusAllowed([1], [0, 1], "cgroup /x");
    invalid(() => assertCpusAllowed([1, 7], [0, 1], "cgroup /x"), /cores 7: cgroup \/x allows only 0-1/);
  });
});
