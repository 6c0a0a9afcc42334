/**
 * What runners report about the processes they run, applied to the deployments: a registration
 * (after a restart of the runner, or of its stream) re-adopts what is wanted there, asks again
 * for what is still being spawned, closes order paths left open, and stops what is not wanted; a
 * heartbeat records the exits it carries, stops processes no deployment wants on that node, and
 * closes every open order path on it that is not that node's active. A heartbeat from a node
 * declared down is not acknowledged (registry.ts): it only gets its open order paths closed.
 */
import { HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import type { MonotonicClock } from "../core/monotonic-clock.ts";
import { ProcessState, type ProcessStatus, type Register } from "../protocol/index.ts";
import type { ProcessExit } from "./deployment-driver.ts";
import { step } from "./deployment-lifecycle.ts";
import { disown, type Deployment } from "./deployment.ts";
import type { HeartbeatVerdict } from "./runner-service.ts";
import type { RunnerSession } from "./runner-session.ts";
import type { DeploymentRecord } from "./store/store-records.ts";

/** What applying runners' reports needs of the orchestrator. */
export interface RunnerReportsDeps {
  readonly deployments: ReadonlyMap<string, Deployment>;
  readonly log: Logger;
  readonly now: MonotonicClock["now"];
  /** Grace between SIGTERM and SIGKILL when an unwanted process is stopped. */
  readonly stopGraceMs: number;
  /** Replaces a deployment's record and writes it to the store. */
  update(d: Deployment, change: Partial<DeploymentRecord>): void;
  /** Records an exit and applies the restart policy (deployment-driver.ts). */
  exited(d: Deployment, exit: ProcessExit): void;
}

/** What runners' reports led to, for metrics. */
export interface RunnerReportCounts {
  /** Heartbeats from nodes declared down, not acknowledged. */
  readonly withheldAcks: number;
  /** Closes sent for order paths a heartbeat showed open on a node that is not their active's. */
  readonly strayPathsClosed: number;
}

/** Runners' reports of their processes (see the file comment). */
export class RunnerReports {
  /** Stops of unwanted processes on their way, by node/deployment. */
  private readonly stopping = new Set<string>();
  /** Sessions already warned about (one warning per session and kind, not one per heartbeat). */
  private readonly warned = new WeakMap<RunnerSession, Set<string>>();
  /** Per session, the deployments whose open path its last heartbeat showed stray (logged once while they stay so). */
  private readonly strays = new WeakMap<RunnerSession, ReadonlySet<string>>();
  private withheld = 0;
  private strayClosed = 0;

  /** What the reports led to so far. */
  get counts(): RunnerReportCounts {
    return { withheldAcks: this.withheld, strayPathsClosed: this.strayClosed };
  }

  constructor(private readonly deps: RunnerReportsDeps) {}

  /** The processes a runner that (re-)registered reports, after the registry took it. */
  registered(nodeId: string, register: Register, session: RunnerSession): void {
    const reported = new Set(register.runningDeployments.map((d) => d.deploymentId));
    for (const r of register.runningDeployments) {
      const d = this.deps.deployments.get(r.deploymentId);
      if (r.status?.state === ProcessState.STARTING) {
        // Still being spawned there (a dataset loading). If it is wanted there, it is asked for
        // again at once: the runner answers every request for it when that one spawn is done.
        if (d && d.rec.desired === "running" && d.rec.nodeId === nodeId) {
          disown(d); // the old stream's request is answered on no stream now
          step(d, { type: "reported-starting" });
          d.notBefore = 0;
        }
        // Anything else is left to the heartbeats, which stop it once it runs (stopUnwanted).
        continue;
      }
      // Re-adopt only what is wanted AND placed on this node: a node that comes back after its
      // work was placed elsewhere must not take it back (two copies, one of them unseen). A spawn
      // still in flight counts: the runner finished it but its answer went down with the old
      // stream, and the process it reports is exactly the one wanted.
      const spawning = d?.inFlight === true && d.phase === "starting";
      const adopted =
        d !== undefined &&
        d.rec.desired === "running" &&
        d.rec.nodeId === nodeId &&
        (!d.inFlight || spawning);
      // A path it reports open on anything but an adopted active is a close that never reached it
      // (its node was unreachable when it was demoted, the stream broke right after the close, the
      // runner restarted before recording it), or belongs to a copy no longer wanted here. Closed
      // now (sent after the RegisterAck), not left to the gateway's fence alone, nor open for the
      // stop's grace. An adopted active's is reopened by the next pass, after the gateway is
      // (re-)fenced to it.
      if (r.ordersEnabled && !(adopted && d.rec.role === "active")) {
        this.deps.log.warn(
          { nodeId: nodeId, deploymentId: r.deploymentId },
          "closing an order path left open",
        );
        session.send({
          case: "setOrderPath",
          value: { deploymentId: r.deploymentId, open: false, epoch: r.epoch },
        });
      }
      if (adopted) {
        disown(d); // a spawn's own answer (or its failure with the old stream) no longer counts
        // The runner closed its order paths when it lost us (self-fencing), or they are closed
        // above: the active's is opened again by the next pass, after the gateway is fenced to it.
        step(d, { type: "adopted" });
        d.runningSince = this.deps.now();
        d.pid = r.status?.pid ?? null;
        this.deps.update(d, {
          addresses: Object.fromEntries(r.addresses.map((a) => [a.socketName, a.address])),
          pendingReason: undefined,
        });
      } else {
        this.stopUnwanted(nodeId, session, r.deploymentId);
      }
    }
    for (const d of this.deps.deployments.values()) {
      if (
        d.rec.nodeId === nodeId &&
        !reported.has(d.rec.id) &&
        (d.phase === "running" || d.phase === "starting") &&
        !d.inFlight
      ) {
        this.deps.exited(d, { code: null, signal: null, reason: "not running when its runner registered" });
      }
    }
  }

  /**
   * A heartbeat of a node declared down (registry.ts): it is not acknowledged, so the runner's
   * lease runs out and it fences itself, then registers again (which re-adopts or stops what it
   * runs). Meanwhile every order path it shows open is closed: it has no active any more.
   */
  fromDownNode(
    nodeId: string,
    session: RunnerSession,
    processes: readonly ProcessStatus[],
  ): HeartbeatVerdict {
    this.withheld += 1;
    this.warnOnce(session, "down", () =>
      this.deps.log.warn(
        { nodeId },
        "heartbeat from a node declared down: not acknowledged until it registers again",
      ),
    );
    this.closeStrayPaths(nodeId, session, processes, () => false);
    return "withhold";
  }

  /** The processes a heartbeat reports, after the registry took it. */
  heartbeat(nodeId: string, session: RunnerSession, processes: readonly ProcessStatus[]): void {
    this.closeStrayPaths(nodeId, session, processes, (d) => d.rec.role === "active");
    for (const p of processes) {
      const d = this.deps.deployments.get(p.deploymentId);
      const alive = p.state === ProcessState.RUNNING || p.state === ProcessState.STARTING;
      if (alive && (!d || d.rec.nodeId !== nodeId || d.rec.desired !== "running")) {
        // Running where it is not wanted (moved away while this node was cut off, or unknown).
        if (!d?.inFlight) this.stopUnwanted(nodeId, session, p.deploymentId);
        continue;
      }
      if (!d || d.inFlight || d.rec.nodeId !== nodeId || d.phase !== "running") continue;
      if (
        p.state === ProcessState.EXITED ||
        p.state === ProcessState.FAILED ||
        p.state === ProcessState.KILLED
      ) {
        const reason = p.exitReason || "ended (its runner gave no reason)";
        this.deps.exited(d, { code: p.exitCode ?? null, signal: p.signal || null, reason });
      }
    }
  }

  /**
   * Sends a close for every order path a heartbeat shows open whose deployment is not wanted
   * running on this node as `isActive` says (its active; for a down node, none): a close that
   * never reached it, a retired active in its stop grace, a copy no longer wanted. Sent at every
   * heartbeat that shows it open (a close is idempotent), logged when it turns up stray: the
   * state kept is the last heartbeat's strays, bounded by what one heartbeat reports.
   */
  private closeStrayPaths(
    nodeId: string,
    session: RunnerSession,
    processes: readonly ProcessStatus[],
    isActive: (d: Deployment) => boolean,
  ): void {
    const before = this.strays.get(session);
    const now = new Set<string>();
    for (const p of processes) {
      if (!p.ordersEnabled) continue;
      const d = this.deps.deployments.get(p.deploymentId);
      if (d && d.rec.nodeId === nodeId && d.rec.desired === "running" && isActive(d)) continue;
      this.strayClosed += 1;
      now.add(p.deploymentId);
      if (before?.has(p.deploymentId) !== true)
        this.deps.log.warn(
          { nodeId, deploymentId: p.deploymentId, role: d?.rec.role ?? null },
          "closing an order path open on a node that is not its active's",
        );
      session.send({
        case: "setOrderPath",
        value: { deploymentId: p.deploymentId, open: false, epoch: p.epoch },
      });
    }
    this.strays.set(session, now);
  }

  private warnOnce(session: RunnerSession, key: string, warn: () => void): void {
    let keys = this.warned.get(session);
    if (keys === undefined) this.warned.set(session, (keys = new Set()));
    if (keys.has(key)) return;
    keys.add(key);
    warn();
  }

  /** Stops a process a node runs that no deployment wants there; at most once per session. */
  private stopUnwanted(nodeId: string, session: RunnerSession, deploymentId: string): void {
    const key = `${nodeId}/${deploymentId}`;
    if (this.stopping.has(key)) return;
    this.stopping.add(key);
    this.deps.log.warn({ nodeId, deploymentId }, "stopping a process not wanted on this node");
    void session
      .stop(deploymentId, this.deps.stopGraceMs)
      // Its stream broke or the stop timed out: the next heartbeat that shows it asks again.
      .catch((err: unknown) =>
        this.deps.log.debug(
          { nodeId, deploymentId, err: HiveError.from(err).message },
          "stop of an unwanted process not answered",
        ),
      )
      .finally(() => this.stopping.delete(key));
  }
}
