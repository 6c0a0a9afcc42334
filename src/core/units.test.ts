import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatBytes, parseBytes } from "./units.ts";

const KiB = 2 ** 10;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const TiB = 2 ** 40;

describe("parseBytes", () => {
  const valid: [string | number, number][] = [
    ["512MiB", 512 * MiB],
    ["512Mi", 512 * MiB],
    ["512mib", 512 * MiB],
    ["4GiB", 4 * GiB],
    ["4Gi", 4 * GiB],
    ["2TiB", 2 * TiB],
    ["1.5G", 1_500_000_000],
    ["1.5GB", 1_500_000_000],
    ["1.5GiB", 1.5 * GiB],
    ["10k", 10_000],
    ["3M", 3_000_000],
    ["1T", 1e12],
    ["100", 100],
    ["100B", 100],
    ["0", 0],
    ["1 KiB", KiB],
    ["  8 MiB  ", 8 * MiB],
    // A fraction of a byte is rounded down.
    ["1.5", 1],
    ["0.5KiB", 512],
    [100, 100],
    [0, 0],
    [1.7, 1],
    [8 * GiB, 8 * GiB],
  ];
  for (const [input, bytes] of valid) {
    test(`${JSON.stringify(input)} is ${bytes} bytes`, () => {
      assert.equal(parseBytes(input), bytes);
    });
  }

  const invalid: (string | number)[] = [
    "lots",
    "-1",
    "-1GiB",
    "4XB",
    "4 G i B",
    "",
    "   ",
    "GiB",
    "1e3",
    ".5G",
    "1,5G",
    "0x10",
    -5,
    -0.5,
    NaN,
    Infinity,
    -Infinity,
  ];
  for (const input of invalid) {
    test(`${typeof input === "string" ? JSON.stringify(input) : String(input)} is rejected`, () => {
      assert.equal(parseBytes(input), undefined);
    });
  }

  test("a plain integer string parses to itself", () => {
    fc.assert(
      fc.property(fc.nat(), (n) => {
        assert.equal(parseBytes(String(n)), n);
      }),
    );
  });

  test("whole MiB and GiB scale by powers of two", () => {
    fc.assert(
      fc.property(fc.nat({ max: 4096 }), (n) => {
        assert.equal(parseBytes(`${n}MiB`), n * MiB);
        assert.equal(parseBytes(`${n}GiB`), n * GiB);
        assert.equal(parseBytes(`${n}GB`), n * 1e9);
      }),
    );
  });
});

describe("formatBytes", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [1, "1 B"],
    [1023, "1023 B"],
    [KiB, "1 KiB"],
    [1536, "1.5 KiB"],
    [100 * KiB, "100 KiB"],
    [512 * MiB, "512 MiB"],
    [256 * MiB, "256 MiB"],
    [GiB, "1 GiB"],
    [1.5 * GiB, "1.5 GiB"],
    [8 * GiB, "8 GiB"],
    [Math.round(10.42 * GiB), "10.4 GiB"],
    [Math.round(99.94 * MiB), "99.9 MiB"],
    [Math.round(150.6 * MiB), "151 MiB"],
    [TiB, "1 TiB"],
    // TiB is the largest unit; bigger sizes stay in it.
    [2048 * TiB, "2048 TiB"],
  ];
  for (const [bytes, text] of cases) {
    test(`${bytes} bytes prints as ${text}`, () => {
      assert.equal(formatBytes(bytes), text);
    });
  }

  test("what it prints parses back to within 5% of the size", () => {
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (bytes) => {
        const text = formatBytes(bytes);
        const back = parseBytes(text);
        assert.notEqual(back, undefined, `${text} does not parse`);
        assert.ok(Math.abs((back ?? 0) - bytes) <= 0.05 * bytes + 1e-9, `${bytes} -> ${text} -> ${back}`);
      }),
    );
  });

  test("sizes below 1 KiB round-trip exactly", () => {
    for (let bytes = 0; bytes < KiB; bytes++) assert.equal(parseBytes(formatBytes(bytes)), bytes);
  });
});
