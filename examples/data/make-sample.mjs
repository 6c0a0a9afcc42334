#!/usr/bin/env node
/**
 * Writes the shipped sample dataset, examples/data/es-sample.csv: 20,000 ticks of a seeded random
 * walk of the ES September 2026 future (ESU6), from 2026-07-01 13:30 UTC (the cash open), about
 * four ticks a second. Deterministic: the same flags always write the same bytes, and a test
 * checks that the shipped file is exactly what this script writes.
 *
 *   node examples/data/make-sample.mjs [--out file] [--ticks 20000] [--seed 2026] [--symbol ESU6]
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createRandomWalk, hashString, seededRandom } from "../programs/lib/random-walk.mjs";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: fileURLToPath(new URL("es-sample.csv", import.meta.url)) },
    ticks: { type: "string", default: "20000" },
    seed: { type: "string", default: "2026" },
    symbol: { type: "string", default: "ESU6" },
  },
});

const count = Number(values.ticks);
const walk = createRandomWalk(values.symbol, values.seed);
// Arrival times have their own stream, so changing the clock never changes the prices.
const clock = seededRandom(hashString(`${values.seed}/${values.symbol}/clock`));
let ts = Date.UTC(2026, 6, 1, 13, 30, 0);

const lines = ["ts,symbol,bid,ask,last,size"];
for (let i = 0; i < count; i++) {
  // Exponential gaps with a 250 ms mean, at least 1 ms.
  ts += 1 + Math.floor(-Math.log(1 - clock()) * 249);
  const t = walk.next();
  lines.push(`${ts},${t.symbol},${t.bid},${t.ask},${t.last},${t.size}`);
}
writeFileSync(values.out, lines.join("\n") + "\n");
console.log(`make-sample: wrote ${count} ticks of ${values.symbol} to ${values.out}`);
