/**
 * A seeded random walk of one instrument's quotes, for the synthetic feeder and for the shipped
 * sample dataset (examples/data/make-sample.mjs). The same seed and symbol always give the same
 * ticks, so a demo or a test can be replayed.
 *
 * Prices move in whole ticks (ES and NQ: a quarter point) and are kept as integers of ticks, so
 * that every printed price is an exact decimal (6400.25, never 6400.250000001). The walk has
 * slow-changing drift regimes, so a momentum strategy has trends to find as well as noise.
 */

/** FNV-1a: a string to an unsigned 32-bit integer. */
export function hashString(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a seeded generator of floats in [0, 1). Not for cryptography. */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Plausible starting points by symbol root; anything else starts at 100.00 in cents. */
const INSTRUMENTS = [
  { root: "ES", start: 6400, ticksPerPoint: 4 },
  { root: "NQ", start: 23000, ticksPerPoint: 4 },
  { root: "YM", start: 45000, ticksPerPoint: 1 },
  { root: "", start: 100, ticksPerPoint: 100 },
];

/**
 * A random walk of `symbol`'s quotes. `next()` returns the next tick's prices and size:
 * `{ symbol, bid, ask, last, size }` (the caller adds `ts` and `seq`).
 */
export function createRandomWalk(symbol, seed) {
  const spec = INSTRUMENTS.find((i) => symbol.startsWith(i.root));
  const random = seededRandom(hashString(`${seed}/${symbol}`));
  const perPoint = spec.ticksPerPoint;
  let bidTicks = spec.start * perPoint;
  let drift = 0; // tilt of up- over down-moves, -0.1 .. 0.1

  return {
    symbol,
    next() {
      // Now and then the regime changes: a trend up, a trend down, or none.
      if (random() < 0.004) drift = (Math.floor(random() * 5) - 2) * 0.05;
      const u = random();
      const up = 0.3 + drift / 2;
      const down = 0.3 - drift / 2;
      if (u < up) bidTicks += 1;
      else if (u < up + down) bidTicks -= 1;
      const spread = random() < 0.9 ? 1 : 2;
      const bid = bidTicks / perPoint;
      const ask = (bidTicks + spread) / perPoint;
      const last = random() < 0.5 ? bid : ask;
      const size = 1 + Math.floor(-Math.log(1 - random()) * 4);
      return { symbol, bid, ask, last, size };
    },
  };
}
