import type { ServiceManifest } from "../domain/index.ts";
import type { DeploymentPhase, DeploymentView } from "./control-plane.ts";
import { initialLifecycle, type OrderGate } from "./deployment-lifecycle.ts";
import type { DeploymentRecord } from "./store/store-records.ts";

/**
 * A deployment as the orchestrator tracks it: its durable record plus what is only in memory. Its
 * phase, role (`rec.role`) and gate fields change only through deployment-lifecycle.ts.
 */
export interface Deployment {
  /** The durable part (replaced, never mutated, so a write to the store is a snapshot). */
  rec: DeploymentRecord;
  manifest: ServiceManifest;
  readonly phase: DeploymentPhase;
  pid: number | null;
  /** A spawn or a stop is on its way to the runner. */
  inFlight: boolean;
  /** No (re)start before this monotonic time (restart backoff). */
  notBefore: number;
  /** Bumped at every spawn and whenever a spawn's answer must no longer count (node lost). */
  attempt: number;
  /** When it was last seen starting to run (monotonic ms), for the restart count's reset. */
  runningSince?: number;
  /**
   * The order path of an active that trades, as the orchestrator drives it: `closed` until the
   * gateway is fenced to it and its runner told to open it (`opening`), then `open`. Every spawn,
   * runner re-registration and promotion sets it back to `closed` (deployment-lifecycle.ts).
   */
  readonly gate: OrderGate;
  /**
   * The request id of a spawn whose answer never came (a timeout, a stream that broke): the next
   * attempt asks again with the same id. Spawns are idempotent on the runner (it answers every
   * request for a deployment with its one process), so a slow spawn is neither counted as a crash
   * nor started twice.
   */
  unansweredSpawn: string | undefined;
  /** Since when (ISO 8601) its spawn has gone unanswered, for the pending reason; undefined once answered. */
  unansweredSince: string | undefined;
  /** No activation attempt before this monotonic time (after a failed one). */
  readonly gateNotBefore: number;
  /** When (monotonic ms) the gate last became `open`: every gateway had acknowledged its fence. */
  readonly gateOpenedAt: number;
}

/** A deployment just created from its record: pending, nothing in flight, no attempt yet. */
export function pendingDeployment(rec: DeploymentRecord, manifest: ServiceManifest): Deployment {
  const { phase, gate, gateNotBefore, gateOpenedAt } = initialLifecycle(rec.role);
  return {
    rec,
    manifest,
    phase,
    pid: null,
    inFlight: false,
    notBefore: 0,
    attempt: 0,
    gate,
    unansweredSpawn: undefined,
    unansweredSince: undefined,
    gateNotBefore,
    gateOpenedAt,
  };
}

/**
 * A new instance of a service, not yet running: a fresh id, no epoch (one is taken when an
 * active's order path opens, order-gate.ts), wanted running, no restarts.
 */
export function newDeployment(
  of: { layout: string; generation: number; role: "active" | "standby"; replica: number },
  manifest: ServiceManifest,
  placed: { nodeId: string | null; pendingReason: string | undefined },
): Deployment {
  return pendingDeployment(
    {
      id: newDeploymentId(of.layout, manifest.name, of.role, of.replica),
      layout: of.layout,
      service: manifest.name,
      role: of.role,
      replica: of.replica,
      generation: of.generation,
      nodeId: placed.nodeId,
      epoch: 0n,
      desired: "running",
      restarts: 0,
      createdAt: new Date().toISOString(),
      pendingReason: placed.pendingReason,
    },
    manifest,
  );
}

/**
 * Whatever is on its way about `d` no longer counts: the answer of a spawn in flight (or its
 * failure), an activation under way; and an unanswered spawn's id is not asked again. For when
 * what its runner says replaces what was asked (a Register), or its node is lost.
 */
export function disown(d: Deployment): void {
  d.attempt++;
  d.inFlight = false;
  d.unansweredSpawn = undefined;
  d.unansweredSince = undefined;
}

/** Whether a deployment is finished for good (a clean exit its policy does not restart) or given up. */
export function isSettled(d: Deployment): boolean {
  if (d.rec.pendingReason?.startsWith("gave up")) return true;
  return d.phase === "exited" && d.rec.lastExit?.code === 0 && d.manifest.restart.policy !== "always";
}

/** A live strategy: an instance that may trade, which must never be restarted elsewhere without fencing. */
export function trades(d: Deployment): boolean {
  return d.manifest.pool === "live" && d.manifest.kind === "strategy";
}

/** A deployment as the API shows it. */
export function deploymentView(d: Deployment): DeploymentView {
  const r = d.rec;
  return {
    id: r.id,
    layout: r.layout,
    service: r.service,
    role: r.role,
    replica: r.replica,
    nodeId: r.nodeId,
    phase: d.phase,
    pid: d.pid,
    addresses: { ...(r.addresses ?? {}) },
    restarts: r.restarts,
    epoch: r.epoch.toString(),
    pendingReason: r.pendingReason ?? null,
    lastExit: r.lastExit
      ? { code: r.lastExit.code, signal: r.lastExit.signal, reason: r.lastExit.reason }
      : null,
  };
}

/** A new deployment id: readable, unique, safe as a cgroup and file name. */
export function newDeploymentId(
  layout: string,
  service: string,
  role: "active" | "standby",
  replica: number,
): string {
  const suffix = Math.random().toString(36).slice(2, 8);
  return role === "active" ? `${layout}.${service}-${suffix}` : `${layout}.${service}-s${replica}-${suffix}`;
}
