/**
 * Small deterministic hashing and randomness, so that a scheduling decision can be replayed from
 * its seed (as Nomad seeds its shuffle from the evaluation id). Not for cryptography.
 */

/** Hashes a string to an unsigned 32-bit integer (FNV-1a). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mixes two 32-bit values into one well-spread unsigned 32-bit value (murmur3's finaliser). */
export function mix32(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A seeded pseudo-random generator (mulberry32): returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * A seeded permutation of 0..n-1 in O(1) space: `at(k)` is the k-th index visited. It walks the
 * range with a random start and a random stride coprime with n, so every index is visited exactly
 * once without shuffling an array (the scheduler must not pay O(n) to start a decision).
 */
export class StridePermutation {
  private readonly start: number;
  private readonly stride: number;

  constructor(
    readonly n: number,
    seed: number,
  ) {
    const a = mix32(seed, 0x51ed270b);
    const b = mix32(seed, 0x2545f491);
    this.start = n > 0 ? a % n : 0;
    let stride = n > 1 ? 1 + (b % (n - 1)) : 1;
    while (n > 1 && gcd(stride, n) !== 1) stride = stride === n - 1 ? 1 : stride + 1;
    this.stride = stride;
  }

  /** The k-th index of the permutation, for 0 <= k < n. */
  at(k: number): number {
    return (this.start + k * this.stride) % this.n;
  }
}
