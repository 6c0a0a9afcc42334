import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseAuxv, DEFAULT_SYSTEM_CONSTANTS } from "./system-constants.ts";

describe("parseAuxv", () => {
  function auxv(pairs: [number, number][]): Uint8Array {
    const view = new DataView(new ArrayBuffer(pairs.length * 16));
    pairs.forEach(([type, value], i) => {
      view.setBigUint64(i * 16, BigInt(type), true);
      view.setBigUint64(i * 16 + 8, BigInt(value), true);
    });
    return new Uint8Array(view.buffer);
  }

  test("reads AT_PAGESZ (6) and AT_CLKTCK (17), stopping at AT_NULL", () => {
    const bytes = auxv([
      [33, 140698959908864],
      [6, 65536],
      [17, 250],
      [0, 0],
      [6, 1],
    ]);
    assert.deepEqual(parseAuxv(bytes), { pageSize: 65536, clockTicks: 250 });
  });

  test("falls back to the defaults for missing entries", () => {
    assert.deepEqual(parseAuxv(new Uint8Array(0)), DEFAULT_SYSTEM_CONSTANTS);
    assert.deepEqual(parseAuxv(auxv([[6, 16384]])), { pageSize: 16384, clockTicks: 100 });
  });
});
