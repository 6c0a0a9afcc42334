import assert from "node:assert/strict";
import { test } from "node:test";
import { serviceManifestSchema } from "../domain/index.ts";
import { afterExit, restartDelayMs, stableAfterMs, wantsRestart } from "./restart-policy.ts";

const manifest = serviceManifestSchema.parse({
  name: "momentum",
  kind: "strategy",
  pool: "live",
  command: "node",
  resources: { cores: 1, memory: "512MiB" },
  restart: { policy: "on-failure", maxRestarts: 5, initialBackoffMs: 1000, maxBackoffMs: 8000 },
});

test("restart backoff doubles to its cap, with jitter in the upper half", () => {
  const p = manifest.restart;
  assert.equal(
    restartDelayMs(p, 0, () => 0),
    500,
  );
  assert.equal(
    restartDelayMs(p, 0, () => 0.999_999),
    999,
  );
  assert.equal(
    restartDelayMs(p, 2, () => 0),
    2000,
  );
  assert.equal(
    restartDelayMs(p, 10, () => 0),
    4000,
  ); // capped at 8 s: between 4 and 8 s
  assert.ok(restartDelayMs(p, 10, () => 0.999_999) < 8000);
  assert.equal(stableAfterMs(p), 10_000);
});

test("restart policies", () => {
  const on = (policy: "always" | "on-failure" | "never", code: number | null) =>
    wantsRestart({ ...manifest.restart, policy }, code);
  assert.deepEqual([on("always", 0), on("always", 1), on("always", null)], [true, true, true]);
  assert.deepEqual([on("on-failure", 0), on("on-failure", 1), on("on-failure", null)], [false, true, true]);
  assert.deepEqual([on("never", 0), on("never", 1)], [false, false]);
});

test("after an exit: not wanted, done, given up, or restarted after the backoff", () => {
  const p = manifest.restart;
  const run = { restarts: 2, ranForMs: 100, wanted: true, exitCode: 1 };
  const half = () => 0;
  assert.deepEqual(afterExit(p, { ...run, wanted: false }, half), {
    restarts: 2,
    change: {},
    delayMs: undefined,
  });
  assert.deepEqual(afterExit(p, { ...run, exitCode: 0 }, half), {
    restarts: 2,
    change: { pendingReason: undefined },
    delayMs: undefined,
  });
  assert.deepEqual(afterExit({ ...p, policy: "never" }, run, half), {
    restarts: 2,
    change: { pendingReason: "gave up: restart policy never" },
    delayMs: undefined,
  });
  assert.deepEqual(afterExit(p, { ...run, restarts: 5 }, half), {
    restarts: 5,
    change: { pendingReason: "gave up after 5 restarts" },
    delayMs: undefined,
  });
  assert.deepEqual(afterExit(p, run, half), { restarts: 2, change: { restarts: 3 }, delayMs: 2000 });
  // A long, stable run forgives earlier crashes: the count and the backoff start afresh.
  assert.deepEqual(afterExit(p, { ...run, restarts: 5, ranForMs: 10_000 }, half), {
    restarts: 0,
    change: { restarts: 1 },
    delayMs: 500,
  });
  // Never seen running: nothing is forgiven.
  assert.deepEqual(afterExit(p, { ...run, ranForMs: undefined }, half).restarts, 2);
});
