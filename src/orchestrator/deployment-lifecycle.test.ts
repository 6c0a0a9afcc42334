import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { serviceManifestSchema } from "../domain/index.ts";
import {
  initialLifecycle,
  lifecycleOf,
  step,
  transition,
  type LifecycleEvent,
  type LifecycleState,
} from "./deployment-lifecycle.ts";
import { newDeployment } from "./deployment.ts";

const running: LifecycleState = { ...initialLifecycle("active"), phase: "running" };

test("every transition, from the state it is sent in", () => {
  const cases: [LifecycleState, LifecycleEvent, Partial<LifecycleState>][] = [
    [initialLifecycle("active"), { type: "restored", finished: true, placed: true }, { phase: "exited" }],
    [initialLifecycle("active"), { type: "restored", finished: false, placed: true }, { phase: "starting" }],
    [initialLifecycle("active"), { type: "restored", finished: false, placed: false }, { phase: "pending" }],
    [initialLifecycle("active"), { type: "spawn-sent" }, { phase: "starting" }],
    [{ ...running, phase: "failed" }, { type: "spawn-sent" }, { phase: "starting" }],
    [
      { ...running, phase: "starting", gate: "open" },
      { type: "spawned" },
      { phase: "running", gate: "closed" },
    ],
    [{ ...running, phase: "starting" }, { type: "spawn-unanswered" }, { phase: "pending" }],
    [{ ...running, phase: "starting" }, { type: "reported-starting" }, { phase: "pending" }],
    [
      { ...running, phase: "starting", gate: "open" },
      { type: "adopted" },
      { phase: "running", gate: "closed" },
    ],
    [running, { type: "exited", code: 0 }, { phase: "exited" }],
    [running, { type: "exited", code: 1 }, { phase: "failed" }],
    [
      { ...running, gate: "open" },
      { type: "exited", code: null },
      { phase: "failed", gate: "open" },
    ],
    [
      { ...running, gate: "open" },
      { type: "node-lost", outcome: "placed-again" },
      { phase: "pending", gate: "closed" },
    ],
    [
      { ...running, gate: "open" },
      { type: "node-lost", outcome: "failed-over" },
      { phase: "failed", gate: "closed" },
    ],
    [
      { ...running, gate: "open" },
      { type: "node-lost", outcome: "stranded" },
      { phase: "failed", gate: "closed" },
    ],
    [running, { type: "stop-sent" }, { phase: "stopping" }],
    [{ ...running, phase: "stopping" }, { type: "stopped" }, { phase: "stopped" }],
    [
      { ...running, role: "standby", gateNotBefore: 99 },
      { type: "promoted" },
      { role: "active", gate: "closed", gateNotBefore: 0 },
    ],
    [{ ...running, gate: "open" }, { type: "demoted" }, { role: "standby", gate: "closed" }],
    [running, { type: "activation-started" }, { gate: "opening" }],
    [
      { ...running, gate: "opening" },
      { type: "activation-succeeded", at: 42 },
      { gate: "open", gateOpenedAt: 42 },
    ],
    [
      { ...running, gate: "opening" },
      { type: "activation-failed", retryAt: 7 },
      { gate: "closed", gateNotBefore: 7 },
    ],
    // A gate something else changed while the activation ran is left as that made it.
    [
      { ...running, gate: "open" },
      { type: "activation-failed", retryAt: 7 },
      { gate: "open", gateNotBefore: 7 },
    ],
    [{ ...running, gate: "open" }, { type: "fence-lost" }, { gate: "closed" }],
    [{ ...running, gateNotBefore: 5_000 }, { type: "retry-now" }, { gateNotBefore: 0 }],
  ];
  for (const [from, event, changed] of cases) {
    assert.deepEqual(
      transition(from, event),
      { ...from, ...changed },
      `${event.type} from ${JSON.stringify(from)}`,
    );
  }
});

test("step writes the phase and gate, and returns a role change for the record", () => {
  const manifest = serviceManifestSchema.parse({
    name: "momentum",
    kind: "strategy",
    pool: "live",
    command: "node",
    resources: { cores: 1, memory: "64MiB" },
  });
  const d = newDeployment({ layout: "l", generation: 1, role: "standby", replica: 1 }, manifest, {
    nodeId: "n1",
    pendingReason: undefined,
  });
  assert.deepEqual(step(d, { type: "spawn-sent" }), {});
  assert.deepEqual(step(d, { type: "spawned" }), {});
  assert.equal(d.phase, "running");
  assert.deepEqual(step(d, { type: "promoted" }), { role: "active" });
  assert.equal(d.rec.role, "standby", "the record is the caller's to write");
  d.rec = { ...d.rec, role: "active" };
  assert.deepEqual(lifecycleOf(d), { ...running, role: "active" });
});

const event: fc.Arbitrary<LifecycleEvent> = fc.oneof(
  fc.record({ type: fc.constant("restored" as const), finished: fc.boolean(), placed: fc.boolean() }),
  fc.constantFrom<LifecycleEvent>(
    { type: "spawn-sent" },
    { type: "spawned" },
    { type: "spawn-unanswered" },
    { type: "reported-starting" },
    { type: "adopted" },
    { type: "stop-sent" },
    { type: "stopped" },
    { type: "promoted" },
    { type: "demoted" },
    { type: "activation-started" },
    { type: "fence-lost" },
    { type: "retry-now" },
  ),
  fc.record({ type: fc.constant("exited" as const), code: fc.constantFrom(0, 1, null) }),
  fc.record({
    type: fc.constant("node-lost" as const),
    outcome: fc.constantFrom("placed-again" as const, "failed-over" as const, "stranded" as const),
  }),
  fc.record({ type: fc.constant("activation-succeeded" as const), at: fc.nat() }),
  fc.record({ type: fc.constant("activation-failed" as const), retryAt: fc.nat() }),
);

/**
 * Whether the orchestrator sends `e` in state `s`: activations start only on a running active
 * with its gate closed (openGates, or a manual failover's fresh promotion) and succeed only while
 * it still is one (the activation's last check); only a standby is promoted, only an active
 * demoted. The other events' guards (attempts, inFlight, desired) are not part of the state.
 */
function sent(s: LifecycleState, e: LifecycleEvent): boolean {
  switch (e.type) {
    case "activation-started":
      return s.role === "active" && s.phase === "running" && s.gate === "closed";
    case "activation-succeeded":
      return s.role === "active" && s.phase === "running" && s.gate === "opening";
    case "promoted":
      return s.role === "standby";
    case "demoted":
      return s.role === "active";
    default:
      return true;
  }
}

test("over any sequence of events the orchestrator sends, the lifecycle keeps its invariants", () => {
  const closes = new Set(["spawned", "adopted", "node-lost", "promoted", "demoted", "fence-lost"]);
  fc.assert(
    fc.property(
      fc.constantFrom("active" as const, "standby" as const),
      fc.array(event, { maxLength: 80 }),
      (role, events) => {
        let s = initialLifecycle(role);
        let openedRunning = false;
        for (const e of events) {
          if (!sent(s, e)) continue;
          const before = Object.freeze({ ...s });
          const next = transition(before, e);
          assert.deepEqual(
            transition(before, e),
            next,
            "pure: the same state and event, the same next state",
          );
          // A standby never has an order path opening or open.
          if (next.role === "standby") assert.equal(next.gate, "closed");
          // Only an activation opens a gate, and only one that started on a running active.
          if (e.type === "activation-started") openedRunning = s.phase === "running" && s.role === "active";
          if (next.gate === "open" && s.gate !== "open") {
            assert.equal(e.type, "activation-succeeded");
            assert.ok(openedRunning);
          }
          // Any change of who or where it is closes the gate.
          if (closes.has(e.type)) assert.equal(next.gate, "closed");
          // The role changes only by promotion or demotion.
          if (next.role !== s.role) assert.ok(e.type === "promoted" || e.type === "demoted");
          // The gate's times change only with the gate's events.
          if (next.gateOpenedAt !== s.gateOpenedAt) assert.equal(e.type, "activation-succeeded");
          if (next.gateNotBefore !== s.gateNotBefore)
            assert.ok(e.type === "activation-failed" || e.type === "promoted" || e.type === "retry-now");
          s = next;
        }
      },
    ),
  );
});
