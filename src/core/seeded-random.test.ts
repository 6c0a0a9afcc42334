import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { hashString, mix32, seededRandom, StridePermutation } from "./seeded-random.ts";

/** Reference FNV-1a 32 over UTF-16 code units, in BigInt so it shares no arithmetic with the code. */
function fnv1aReference(text: string): number {
  let h = 2166136261n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 16777619n) % 4294967296n;
  }
  return Number(h);
}

/** The whole order of a permutation, as a list. */
function order(p: StridePermutation): number[] {
  return Array.from({ length: p.n }, (_, k) => p.at(k));
}

const anySeed = fc.oneof(fc.integer(), fc.integer({ min: 0, max: 0xffffffff }));

describe("hashString", () => {
  test("gives the published FNV-1a 32 values", () => {
    const known: [string, number][] = [
      ["", 0x811c9dc5],
      ["a", 0xe40c292c],
      ["b", 0xe70c2de5],
      ["foobar", 0xbf9cf968],
    ];
    for (const [text, hash] of known) assert.equal(hashString(text), hash, `hash of ${JSON.stringify(text)}`);
  });

  test("matches an independent FNV-1a implementation on any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 64 }), (text) => {
        assert.equal(hashString(text), fnv1aReference(text));
      }),
    );
  });
});

describe("mix32", () => {
  test("returns an unsigned 32-bit integer", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (a, b) => {
        const h = mix32(a, b);
        assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, `mix32(${a}, ${b}) = ${h}`);
      }),
    );
  });

  test("is one-to-one in its first argument for a fixed second one", () => {
    for (const b of [0, 1, 0x51ed270b]) {
      const outputs = new Set(Array.from({ length: 10_000 }, (_, a) => mix32(a, b)));
      assert.equal(outputs.size, 10_000);
    }
  });
});

describe("seededRandom", () => {
  test("returns floats in [0, 1)", () => {
    fc.assert(
      fc.property(anySeed, (seed) => {
        const next = seededRandom(seed);
        for (let i = 0; i < 200; i++) {
          const x = next();
          assert.ok(x >= 0 && x < 1, `draw ${i} of seed ${seed} was ${x}`);
        }
      }),
    );
  });

  test("repeats the same sequence for the same seed", () => {
    fc.assert(
      fc.property(anySeed, (seed) => {
        const a = seededRandom(seed);
        const b = seededRandom(seed);
        const first = Array.from({ length: 50 }, () => a());
        const second = Array.from({ length: 50 }, () => b());
        assert.deepEqual(first, second);
      }),
    );
  });

  test("gives different sequences for different seeds", () => {
    const a = seededRandom(1);
    const b = seededRandom(2);
    const first = Array.from({ length: 20 }, () => a());
    const second = Array.from({ length: 20 }, () => b());
    assert.notDeepEqual(first, second);
  });

  test("is spread over the interval (mean and deciles of a fixed seed)", () => {
    const next = seededRandom(42);
    const deciles = new Array<number>(10).fill(0);
    let sum = 0;
    const draws = 20_000;
    for (let i = 0; i < draws; i++) {
      const x = next();
      sum += x;
      deciles[Math.floor(x * 10)]! += 1;
    }
    assert.ok(Math.abs(sum / draws - 0.5) < 0.02, `mean ${sum / draws}`);
    for (const count of deciles) assert.ok(count > draws / 10 - 300 && count < draws / 10 + 300, `${count}`);
  });
});

describe("StridePermutation", () => {
  test("visits every index of 0..n-1 exactly once", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), anySeed, (n, seed) => {
        const p = new StridePermutation(n, seed);
        const seen = new Uint8Array(n);
        for (let k = 0; k < n; k++) {
          const i = p.at(k);
          assert.ok(Number.isInteger(i) && i >= 0 && i < n, `at(${k}) = ${i} for n = ${n}`);
          assert.equal(seen[i], 0, `index ${i} visited twice for n = ${n}, seed = ${seed}`);
          seen[i] = 1;
        }
      }),
      { numRuns: 300 },
    );
  });

  test("visits every index for every n up to 300 with a fixed seed", () => {
    for (let n = 1; n <= 300; n++) {
      const visited = new Set(order(new StridePermutation(n, 7)));
      assert.equal(visited.size, n, `n = ${n}`);
    }
  });

  test("is deterministic for a seed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), anySeed, (n, seed) => {
        assert.deepEqual(order(new StridePermutation(n, seed)), order(new StridePermutation(n, seed)));
      }),
      { numRuns: 100 },
    );
  });

  test("gives a different order for most neighbouring seeds when n >= 10", () => {
    // Deterministic: a fixed set of sizes and seeds, so the 90% bound cannot flake.
    for (const n of [10, 11, 16, 64, 97, 1000]) {
      let differing = 0;
      const pairs = 100;
      for (let seed = 0; seed < pairs; seed++) {
        const a = order(new StridePermutation(n, seed));
        const b = order(new StridePermutation(n, seed + 1));
        if (a.some((v, k) => v !== b[k])) differing++;
      }
      assert.ok(differing >= 0.9 * pairs, `n = ${n}: only ${differing} of ${pairs} seed pairs differ`);
    }
  });

  test("spreads its start over the range (no index is always first)", () => {
    const n = 50;
    const firsts = new Set(Array.from({ length: 500 }, (_, seed) => new StridePermutation(n, seed).at(0)));
    assert.ok(firsts.size >= 40, `only ${firsts.size} distinct first indices`);
  });

  test("handles n = 1", () => {
    assert.equal(new StridePermutation(1, 123).at(0), 0);
  });
});
