/**
 * One deployment's lifecycle as the orchestrator drives it: its phase, its role and its order
 * gate, changed by a closed set of events. {@link transition} is the pure rule; {@link step} is
 * the only code that writes a deployment's phase and gate fields (they are readonly everywhere
 * else), and the only code that decides a role change (returned as the record change to write,
 * since the role is durable and written through the orchestrator's commit).
 *
 * Phase (every deployment):
 *
 *   restored ──▶ pending ──spawn-sent──▶ starting ──spawned──▶ running ──exited──▶ exited | failed
 *                  ▲                        │                                         │
 *                  └─── spawn-unanswered, ──┘                                         │
 *                       reported-starting        starting ◀──spawn-sent (after the ───┘
 *                                                             restart backoff)
 *   any ──adopted──▶ running                 any ──node-lost: placed-again──▶ pending
 *   any ──node-lost: failed-over | stranded──▶ failed
 *   running | starting ──stop-sent──▶ stopping ──stopped──▶ stopped (then forgotten)
 *
 *   pending   wanted, not running: unplaced, in its restart backoff, or its spawn to be asked again
 *   starting  a spawn was sent (or, after an orchestrator restart, placed and not yet reported)
 *   running   its runner answered the spawn, or reported it running when it registered
 *   stopping  a stop was sent to its runner
 *   stopped   the stop ended (or failed); it is forgotten at once
 *   exited    its process ended with code 0: done, unless its policy restarts it
 *   failed    its process or spawn failed, or its node was lost and it is not placed again
 *
 * Role (live strategies): standby ──promoted──▶ active ──demoted──▶ standby
 *
 * Order gate (an active that trades):
 *
 *   closed ──activation-started──▶ opening ──activation-succeeded──▶ open
 *     ▲                               │                                │
 *     ├──── activation-failed ◀───────┘                                │
 *     └──── spawned | adopted | node-lost | promoted | demoted | fence-lost (from any) ◀──┘
 *
 *   closed    no orders: every instance starts so, and any change of who or where it is closes it
 *   opening   an activation is fencing the gateways to it (order-gate.ts)
 *   open      every gateway acknowledged its fence, and its runner was told to open the path
 *
 *   After activation-failed, no new activation before its retryAt; retry-now (a gateway was
 *   reassigned to this orchestrator) drops that wait and nothing else.
 *
 * Invariants kept by these rules (checked in deployment-lifecycle.test.ts):
 *   - a standby's gate is closed whenever activations start only on actives (openGates);
 *   - a (re)spawned, adopted, lost, promoted or demoted instance's gate is closed: only an
 *     activation, after fencing (order-gate.ts), opens it again;
 *   - the role changes only on promoted / demoted.
 *
 * The rules accept every event in every state, as the orchestrator always did: where an event
 * comes from a state other than the usual one (noted per case below), it does what it does from
 * the usual one. The callers' guards (attempt counters, `inFlight`, `desired`) decide when an
 * event is sent; these rules do not second-guess them.
 */
import { assertNever } from "../core/assert-never.ts";
import type { DeploymentPhase } from "./control-plane.ts";
import type { Deployment } from "./deployment.ts";
import type { DeploymentRecord, DeploymentRole } from "./store/store-records.ts";

/** The order path of an active that trades, as the orchestrator drives it. */
export type OrderGate =
  /** Not open: every instance starts so, and any change of who it is closes it. */
  | "closed"
  /** An activation is fencing the gateways to it (order-gate.ts); not open yet. */
  | "opening"
  /** Every gateway acknowledged its fence and its runner was told to open the path. */
  | "open";

/** What the lifecycle owns of a deployment. */
export interface LifecycleState {
  readonly phase: DeploymentPhase;
  readonly role: DeploymentRole;
  readonly gate: OrderGate;
  /** No activation attempt before this monotonic time (after a failed one). */
  readonly gateNotBefore: number;
  /** When (monotonic ms) the gate last became `open`. */
  readonly gateOpenedAt: number;
}

/** Where a lost node's deployment goes. */
export type LostOutcome =
  /** Placed again (a backtest, a standby, an active fenced elsewhere before it trades). */
  | "placed-again"
  /** A lost active whose warm standby was promoted in its place; retired. */
  | "failed-over"
  /** A lost live strategy that trades through no gateway: left failed, for a person to look at. */
  | "stranded";

/** Everything that changes a deployment's phase, role or gate. */
export type LifecycleEvent =
  /** Loaded from the store after a restart: finished for good, placed on a node, or neither. */
  | { readonly type: "restored"; readonly finished: boolean; readonly placed: boolean }
  /** A spawn was sent to its runner. */
  | { readonly type: "spawn-sent" }
  /** Its runner answered the spawn: the process runs. */
  | { readonly type: "spawned" }
  /** The spawn got no answer (a timeout, a broken stream): asked again later. */
  | { readonly type: "spawn-unanswered" }
  /** A re-registering runner reports it still being spawned: asked for again at once. */
  | { readonly type: "reported-starting" }
  /** A re-registering runner reports it running where it is wanted: re-adopted. */
  | { readonly type: "adopted" }
  /** Its process ended (or its spawn failed, or its runner no longer has it). */
  | { readonly type: "exited"; readonly code: number | null }
  /** Its node was lost. */
  | { readonly type: "node-lost"; readonly outcome: LostOutcome }
  /** A stop was sent to its runner. */
  | { readonly type: "stop-sent" }
  /** The stop finished (or failed): it is about to be forgotten. */
  | { readonly type: "stopped" }
  /** A standby made the active (failover). */
  | { readonly type: "promoted" }
  /** An active made a standby (manual failover). */
  | { readonly type: "demoted" }
  /** An activation (fence, then open) started. */
  | { readonly type: "activation-started" }
  /** The activation opened the order path, at `at` (monotonic ms). */
  | { readonly type: "activation-succeeded"; readonly at: number }
  /** The activation failed: no new one before `retryAt` (monotonic ms). */
  | { readonly type: "activation-failed"; readonly retryAt: number }
  /** A gateway no longer fences an open active's account (its state was lost). */
  | { readonly type: "fence-lost" }
  /** What held activations back changed (a gateway was reassigned): the next may start now. */
  | { readonly type: "retry-now" };

/** The lifecycle of a new deployment: pending, standby or active as created, gate closed. */
export function initialLifecycle(role: DeploymentRole): LifecycleState {
  return { phase: "pending", role, gate: "closed", gateNotBefore: 0, gateOpenedAt: 0 };
}

/** The next state after `event` (pure). */
export function transition(s: LifecycleState, event: LifecycleEvent): LifecycleState {
  switch (event.type) {
    case "restored":
      // Until its runner reports it, a placed deployment is assumed to be starting; one that had
      // finished for good (a backtest's clean exit) stays finished.
      return { ...s, phase: event.finished ? "exited" : event.placed ? "starting" : "pending" };
    case "spawn-sent":
      // From pending, exited or failed (the pass checks); the gate is left as it is: a spawn's
      // answer closes it.
      return { ...s, phase: "starting" };
    case "spawned":
      // From starting (a spawn's answer for the current attempt).
      return { ...s, phase: "running", gate: "closed" };
    case "spawn-unanswered":
    case "reported-starting":
      // From starting; the gate is left as it is (the process may run; the runner closed its
      // path if it lost the orchestrator).
      return { ...s, phase: "pending" };
    case "adopted":
      // From any phase: what the runner reports replaces what was asked. Its order path was
      // closed by the runner (self-fencing) or by the orchestrator; the next pass reopens it after
      // fencing.
      return { ...s, phase: "running", gate: "closed" };
    case "exited":
      // From running or starting (a failed spawn). The gate is left as it is, as always: a path
      // with no process carries no orders, and the next spawn's answer closes it.
      return { ...s, phase: event.code === 0 ? "exited" : "failed" };
    case "node-lost":
      // From any phase but a settled one (the caller checks).
      return { ...s, phase: event.outcome === "placed-again" ? "pending" : "failed", gate: "closed" };
    case "stop-sent":
      // From running or starting.
      return { ...s, phase: "stopping" };
    case "stopped":
      // From stopping, whether the stop succeeded or not.
      return { ...s, phase: "stopped" };
    case "promoted":
      // From a running standby (bestStandby); it takes a new epoch and opens after fencing.
      return { ...s, role: "active", gate: "closed", gateNotBefore: 0 };
    case "demoted":
      // From an active; the gateway fence of its successor is what guarantees it no longer trades.
      return { ...s, role: "standby", gate: "closed" };
    case "activation-started":
      // From closed (openGates checks, a manual failover promotes first).
      return { ...s, gate: "opening" };
    case "activation-succeeded":
      // From opening. Not checked: the activation checked, just before sending the open, that
      // nothing had changed, and the open is what the gate records.
      return { ...s, gate: "open", gateOpenedAt: event.at };
    case "activation-failed":
      // A gate something else closed (or reopened) meanwhile is left as that made it.
      return { ...s, gate: s.gate === "opening" ? "closed" : s.gate, gateNotBefore: event.retryAt };
    case "fence-lost":
      // From open; the activation that follows fences it again, at its epoch, then opens.
      return { ...s, gate: "closed" };
    case "retry-now":
      // From any gate: only the wait before the next activation goes.
      return { ...s, gateNotBefore: 0 };
    default:
      return assertNever(event, "deployment lifecycle event");
  }
}

/** A deployment's lifecycle state now. */
export function lifecycleOf(d: Deployment): LifecycleState {
  return {
    phase: d.phase,
    role: d.rec.role,
    gate: d.gate,
    gateNotBefore: d.gateNotBefore,
    gateOpenedAt: d.gateOpenedAt,
  };
}

/** The fields {@link step} writes; readonly on {@link Deployment} for everyone else. */
type LifecycleFields = {
  -readonly [K in "phase" | "gate" | "gateNotBefore" | "gateOpenedAt"]: Deployment[K];
};

/**
 * Applies `event` to `d`: its phase and gate change in memory at once; a role change is returned
 * as the record change for the caller to write (with the rest of its change, through the
 * orchestrator's update or commit: a role swap is written as one batch). Empty when the role
 * stays.
 */
export function step(d: Deployment, event: LifecycleEvent): Partial<Pick<DeploymentRecord, "role">> {
  const next = transition(lifecycleOf(d), event);
  const fields: LifecycleFields = d;
  fields.phase = next.phase;
  fields.gate = next.gate;
  fields.gateNotBefore = next.gateNotBefore;
  fields.gateOpenedAt = next.gateOpenedAt;
  return next.role === d.rec.role ? {} : { role: next.role };
}
