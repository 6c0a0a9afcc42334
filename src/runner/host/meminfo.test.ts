import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseMeminfo, parseMeminfoFields } from "./meminfo.ts";

describe("parseMeminfo", () => {
  const MEMINFO = [
    "MemTotal:       24684096 kB",
    "MemFree:        24461824 kB",
    "MemAvailable:   24407980 kB",
    "Buffers:           1000 kB",
    "Cached:          100000 kB",
    "HugePages_Total:       0",
    "",
  ].join("\n");

  test("reads MemTotal and MemAvailable in bytes", () => {
    assert.deepEqual(parseMeminfo(MEMINFO), { totalBytes: 24684096 * 1024, availableBytes: 24407980 * 1024 });
  });

  test("keeps unit-less values as they are", () => {
    assert.equal(parseMeminfoFields(MEMINFO).get("HugePages_Total"), 0);
  });

  test("estimates MemAvailable as MemFree + Buffers + Cached on kernels without it", () => {
    const old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n";
    assert.deepEqual(parseMeminfo(old), { totalBytes: 1024000, availableBytes: 420 * 1024 });
  });

  test("is undefined without MemTotal", () => {
    assert.equal(parseMeminfo("MemFree: 100 kB\n"), undefined);
  });
});
