/**
 * Spawns and stops, as the orchestrator asks its runners for them: a spawn's answer (or its
 * silence) and an exit move the deployment through its lifecycle (deployment-lifecycle.ts), and
 * an exit goes through the restart policy (restart-policy.ts). When to start or stop which
 * deployment is the reconcile pass's decision (orchestrator.ts); this file does the asking.
 */
import { randomUUID } from "node:crypto";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import type { MonotonicClock } from "../core/monotonic-clock.ts";
import type { Layout } from "../domain/index.ts";
import { step } from "./deployment-lifecycle.ts";
import type { Deployment } from "./deployment.ts";
import type { Registry } from "./registry.ts";
import { afterExit, wantsRestart } from "./restart-policy.ts";
import type { ServiceProvider } from "./service-provider.ts";
import { spawnRequestFor } from "./spawn-request.ts";
import type { DeploymentRecord } from "./store/store-records.ts";

/** How soon a spawn that got no answer is asked again (with the same request id). */
const SPAWN_ASK_AGAIN_MS = 1_000;

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly reason: string;
}

/** What spawning and stopping need of the orchestrator. */
export interface DeploymentDriverDeps {
  readonly provider: Pick<ServiceProvider, "reachable" | "spawn" | "stop">;
  readonly registry: Pick<Registry, "find">;
  readonly log: Logger;
  readonly now: MonotonicClock["now"];
  /** Grace between SIGTERM and SIGKILL when a deployment is stopped. */
  readonly stopGraceMs: number;
  /** The applied layout of that name. */
  layout(name: string): Layout | undefined;
  /** Replaces a deployment's record and writes it to the store. */
  update(d: Deployment, change: Partial<DeploymentRecord>): void;
  /** Drops a deployment (and its record). */
  forget(d: Deployment): void;
  /** Asks for a reconcile pass soon. */
  kick(): void;
  /** Asks for a reconcile pass after `ms`. */
  later(ms: number): void;
}

/** What a reconcile pass does with one deployment now. */
export type DueAction = "start" | "stop" | "forget" | "none";

/**
 * What a reconcile pass does with `d` at monotonic time `now` (pure): nothing while a spawn or
 * stop is on its way; start a placed one wanted running that is not running, once its restart
 * backoff is over, unless it was given up or finished for good (a clean exit its policy does not
 * restart); stop one not wanted that runs or starts; forget one not wanted that does neither.
 */
export function dueAction(d: Deployment, now: number): DueAction {
  if (d.inFlight) return "none";
  if (d.rec.desired === "running") {
    if (
      d.rec.nodeId &&
      (d.phase === "pending" || d.phase === "exited" || d.phase === "failed") &&
      now >= d.notBefore
    ) {
      if (d.rec.pendingReason?.startsWith("gave up")) return "none";
      if (d.phase === "exited" && !wantsRestart(d.manifest.restart, 0)) return "none"; // finished
      return "start";
    }
    return "none";
  }
  if (d.phase === "running" || d.phase === "starting") return "stop";
  if (d.phase !== "stopping") return "forget";
  return "none";
}

/** Spawns, exits and stops of deployments (see the file comment). */
export class DeploymentDriver {
  constructor(private readonly deps: DeploymentDriverDeps) {}

  /**
   * Asks its runner to spawn `d` (a new request id, or the one of a spawn that went unanswered),
   * unless its node is unreachable; the answer records it running, or ended.
   */
  start(d: Deployment): void {
    const nodeId = d.rec.nodeId;
    if (!nodeId || !this.deps.provider.reachable(nodeId)) return;
    const layout = this.deps.layout(d.rec.layout);
    d.inFlight = true;
    step(d, { type: "spawn-sent" });
    const attempt = ++d.attempt;
    const requestId = d.unansweredSpawn ?? `spawn-${d.rec.id}-${randomUUID().slice(0, 8)}`;
    d.unansweredSpawn = undefined;
    const request = {
      ...spawnRequestFor(
        d.manifest,
        { deploymentId: d.rec.id, layout: d.rec.layout, role: d.rec.role, epoch: d.rec.epoch },
        layout?.datasets ?? [],
      ),
      requestId,
    };
    this.deps.provider
      .spawn(nodeId, request)
      .then((outcome) => {
        if (d.attempt !== attempt) return; // a newer attempt, or the node was lost meanwhile
        d.inFlight = false;
        d.unansweredSince = undefined;
        if (d.rec.desired !== "running") {
          this.deps.kick();
          return;
        }
        if (outcome.ok) {
          step(d, { type: "spawned" });
          d.runningSince = this.deps.now();
          d.pid = outcome.pid;
          this.deps.update(d, { addresses: { ...outcome.addresses }, pendingReason: undefined });
          this.deps.log.info({ deploymentId: d.rec.id, nodeId, pid: outcome.pid }, "running");
        } else {
          this.exited(d, { code: null, signal: null, reason: `spawn failed: ${outcome.reason}` });
        }
      })
      .catch((err: unknown) => {
        if (d.attempt !== attempt) return;
        d.inFlight = false;
        const error = HiveError.from(err);
        if (error.code === ErrorCode.Unavailable && d.rec.desired === "running") {
          // No answer (a timeout, the stream broke): the runner may be loading a dataset or may
          // have spawned it. Not a crash: ask again with the same request id; spawns are
          // idempotent on the runner, which answers with the one process it has or will have.
          d.unansweredSpawn = requestId;
          d.unansweredSince ??= new Date().toISOString();
          step(d, { type: "spawn-unanswered" });
          d.notBefore = this.deps.now() + SPAWN_ASK_AGAIN_MS;
          // One reason for the whole wait, saying since when: written when it changes, not per ask.
          const reason = `spawn not answered since ${d.unansweredSince} (${error.message}); asking again every ${SPAWN_ASK_AGAIN_MS / 1000} s`;
          if (d.rec.pendingReason !== reason) this.deps.update(d, { pendingReason: reason });
          this.deps.log.warn(
            { deploymentId: d.rec.id, nodeId, requestId, err: error.message },
            "spawn unanswered",
          );
          this.deps.later(SPAWN_ASK_AGAIN_MS + 5);
          return;
        }
        d.unansweredSince = undefined;
        this.exited(d, { code: null, signal: null, reason: `spawn failed: ${error.message}` });
      });
  }

  /** Records an exit and applies the restart policy (restart-policy.ts). */
  exited(d: Deployment, exit: ProcessExit): void {
    const decision = afterExit(d.manifest.restart, {
      restarts: d.rec.restarts,
      ranForMs: d.runningSince === undefined ? undefined : this.deps.now() - d.runningSince,
      wanted: d.rec.desired === "running",
      exitCode: exit.code,
    });
    if (decision.restarts !== d.rec.restarts) d.rec = { ...d.rec, restarts: decision.restarts };
    d.runningSince = undefined;
    step(d, { type: "exited", code: exit.code });
    d.pid = null;
    if (decision.delayMs !== undefined) d.notBefore = this.deps.now() + decision.delayMs;
    this.deps.update(d, { lastExit: { ...exit, at: new Date().toISOString() }, ...decision.change });
    this.deps.log.warn({ deploymentId: d.rec.id, ...exit, restarts: d.rec.restarts }, "deployment ended");
    this.deps.kick();
    // A retry after the backoff needs a pass then, not only on the next event.
    this.deps.later(Math.max(0, d.notBefore - this.deps.now()) + 5);
  }

  /** Asks its runner to stop `d`, then forgets it; one on a node that is gone is forgotten at once. */
  stop(d: Deployment): void {
    const nodeId = d.rec.nodeId;
    if (!nodeId || !this.deps.provider.reachable(nodeId)) {
      // Nothing can be asked of a node that is gone: its deployment is forgotten.
      const node = nodeId ? this.deps.registry.find(nodeId) : undefined;
      if (!node || node.health === "down") this.deps.forget(d);
      return;
    }
    d.inFlight = true;
    step(d, { type: "stop-sent" });
    this.deps.provider
      .stop(nodeId, d.rec.id, this.deps.stopGraceMs)
      .catch((err: unknown) =>
        this.deps.log.warn({ deploymentId: d.rec.id, err: HiveError.from(err).message }, "stop failed"),
      )
      .finally(() => {
        d.inFlight = false;
        step(d, { type: "stopped" });
        this.deps.forget(d);
      });
  }
}
