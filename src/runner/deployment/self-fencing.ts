/**
 * What the runner does as its lease comes and goes (lease-guard.ts holds the timeline): at the
 * deadline it closes the order path of every live deployment (one with an order path: a consumed
 * DEALER socket); after the grace it SIGKILLs those processes, reported with the exit reason
 * "self-fenced: lease lost for N ms"; when a lease is granted again it puts each order path back
 * to what the orchestrator last commanded (open only if a SetOrderPath or the spawn opened it).
 * Backtests and feeders have no order path: self-fencing neither closes nor kills anything of
 * theirs.
 *
 * Reopening on renewal is safe even if the orchestrator meanwhile moved the account to another
 * instance: the gateway fences by epoch, so the old epoch's orders are refused there.
 */
import type { Logger } from "../../core/logger.ts";
import { LeaseGuard, type LeaseState } from "../link/lease-guard.ts";
import type { MonotonicClock } from "../../core/monotonic-clock.ts";
import type { PostOfficePort } from "../runner-deps.ts";
import { hasOrderPath, type NodeDeployment } from "./node-deployment.ts";

/** What self-fencing acts on. */
export interface SelfFencingOptions {
  readonly clock: MonotonicClock;
  /** Grace between closing the order paths and killing; undefined: DEFAULT_SELF_FENCE_KILL_AFTER_MS (10 s). */
  readonly killAfterMs: number | undefined;
  readonly deployments: () => Iterable<NodeDeployment>;
  readonly postOffice: PostOfficePort;
  readonly log: Logger;
  /** Runs work off the caller's stack, tracked so that the runner's close waits for it. */
  readonly background: (work: Promise<unknown>) => void;
}

/** The runner's self-fencing; see the file comment. */
export class SelfFencing {
  readonly #options: SelfFencingOptions;
  readonly lease: LeaseGuard;
  #closed = false;

  constructor(options: SelfFencingOptions) {
    this.#options = options;
    this.lease = new LeaseGuard({
      clock: options.clock,
      killAfterMs: options.killAfterMs,
      onLost: (e) => this.#guard("close order paths", () => this.#closeAll(e.overdueMs)),
      onKill: (e) => this.#guard("kill live processes", () => this.#killAll(e.lostForMs)),
      onGranted: (e) => this.#guard("restore order paths", () => this.#restoreAll(e.from, e.lostForMs)),
    });
  }

  /** Whether order paths may be open now: only while a lease is held, and never once closed. */
  get ordersAllowed(): boolean {
    return !this.#closed && this.lease.state === "held";
  }

  /**
   * Milliseconds left on the lease, for the order paths' per-order check (post-office.ts
   * bindLease): -Infinity once closed or while no lease is held, else until its deadline, which
   * may already have passed while the expiry timer has not run yet (a stalled main thread).
   */
  leaseRemainingMs(): number {
    return this.ordersAllowed ? this.lease.remainingMs() : -Infinity;
  }

  /** The order-path state to apply for a commanded one: closed unless a lease is held. */
  effective(commandedOpen: boolean): boolean {
    return commandedOpen && this.ordersAllowed;
  }

  /** Where the lease stands. */
  get state(): LeaseState {
    return this.lease.state;
  }

  /**
   * The runner is closing: cancels the timers and closes every order path at once. Nothing may
   * trade through a runner that is going away, whatever its close then waits for (a stop's grace,
   * a dataset copy): its lease is no longer renewed, and nothing would self-fence any more.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.lease.close();
    const live = this.#live();
    for (const d of live) this.#setPath(d, false);
    if (live.length > 0) {
      this.#options.log.info(
        { deployments: live.map((d) => d.request.deploymentId) },
        "runner closing: order paths closed",
      );
    }
  }

  /** A timer callback must never throw into the event loop: log it instead. */
  #guard(what: string, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.#options.log.error({ err }, `self-fencing: could not ${what}`);
    }
  }

  #live(): NodeDeployment[] {
    return [...this.#options.deployments()].filter((d) => !d.final && hasOrderPath(d));
  }

  /** Sets an order path at once (the post office's gate is synchronous); a failure is logged. */
  #setPath(d: NodeDeployment, open: boolean, epoch?: bigint): void {
    const id = d.request.deploymentId;
    const failed = (err: unknown) =>
      this.#options.log.error({ deploymentId: id, err, open }, "self-fencing: order path not set");
    try {
      const done = this.#options.postOffice.setOrderPath(id, open, epoch);
      if (done) this.#options.background(done.catch(failed));
    } catch (err) {
      failed(err);
    }
  }

  #closeAll(overdueMs: number): void {
    const live = this.#live();
    for (const d of live) this.#setPath(d, false);
    this.#options.log.warn(
      { deployments: live.map((d) => d.request.deploymentId), overdueMs: Math.round(overdueMs) },
      "self-fenced: the lease ran out without a renewal; order paths closed",
    );
  }

  #killAll(lostForMs: number): void {
    const reason = `self-fenced: lease lost for ${Math.round(lostForMs)} ms`;
    const live = this.#live().filter((d) => d.process !== undefined);
    for (const d of live) {
      d.selfFenced = reason;
      const p = d.process;
      if (p) this.#options.background(p.kill());
    }
    this.#options.log.error(
      { deployments: live.map((d) => d.request.deploymentId), lostForMs: Math.round(lostForMs) },
      "self-fenced: lease still lost after the grace; live processes killed",
    );
  }

  #restoreAll(from: LeaseState, lostForMs: number): void {
    const live = this.#live();
    for (const d of live) this.#setPath(d, d.ordersOpen, d.epoch);
    if (from === "none" && live.length === 0) return;
    this.#options.log.info(
      {
        from,
        lostForMs: Math.round(lostForMs),
        opened: live.filter((d) => d.ordersOpen).map((d) => d.request.deploymentId),
      },
      "lease granted: order paths as the orchestrator last commanded",
    );
  }
}
