/**
 * The deployments' records and their store writes, which nobody waits for: a record is replaced
 * (never mutated, so a write is a snapshot) and written in the background; a role swap is one
 * batch. The writes are tracked so that a clean close waits for them; after the orchestrator is
 * closed, memory is all that changes (the runners re-report what runs to the next one).
 */
import type { Logger } from "../core/logger.ts";
import type { Deployment } from "./deployment.ts";
import type { DeploymentRecord } from "./store/store-records.ts";
import type { Store } from "./store/store.ts";

/** How many forgotten deployment ids are remembered (a few hundred bytes each). */
export const FORGOTTEN_KEPT = 10_000;

/** A change to one deployment's record. */
export type Change = readonly [Deployment, Partial<DeploymentRecord>];

/** Record changes of the deployments, written to the store (see the file comment). */
export class DeploymentWrites {
  /** Store writes on their way: {@link written} waits for them. */
  private readonly writes = new Set<Promise<unknown>>();
  /**
   * The ids of the deployments forgotten since start, the last FORGOTTEN_KEPT: a fence taking an
   * account from one of them is no surprise (order-gate.ts, `unknown-previous`).
   */
  private readonly forgotten = new Set<string>();

  constructor(
    private readonly deployments: Map<string, Deployment>,
    private readonly store: Store,
    private readonly log: Logger,
    /** Whether the orchestrator is closed (then nothing more is written). */
    private readonly closed: () => boolean,
  ) {}

  /** Drops a deployment and deletes its record. */
  forget(d: Deployment): void {
    this.deployments.delete(d.rec.id);
    this.forgotten.add(d.rec.id);
    if (this.forgotten.size > FORGOTTEN_KEPT)
      this.forgotten.delete(this.forgotten.values().next().value ?? "");
    this.write(() => this.store.deleteDeployment(d.rec.id), "delete");
  }

  /** Whether a deployment of that id was forgotten since start (the last FORGOTTEN_KEPT). */
  wasForgotten(id: string): boolean {
    return this.forgotten.has(id);
  }

  /** Replaces a deployment's record and writes it to the store. */
  update(d: Deployment, change: Partial<DeploymentRecord>): void {
    d.rec = { ...d.rec, ...change };
    this.write(() => this.store.putDeployment(d.rec), "write");
  }

  /** Replaces several records and adds deployments, written to the store as one batch. */
  commit(changes: readonly Change[], added: readonly Deployment[] = []): void {
    for (const [d, change] of changes) d.rec = { ...d.rec, ...change };
    for (const d of added) this.deployments.set(d.rec.id, d);
    const recs = [...changes.map(([d]) => d.rec), ...added.map((d) => d.rec)];
    this.write(() => this.store.putDeployments(recs), "write");
  }

  /** Resolves once every write already made has finished (each failure is logged). */
  async written(): Promise<void> {
    await Promise.allSettled([...this.writes]);
  }

  /** A store write that nobody waits for, tracked so {@link written} can wait for it. */
  private write(work: () => Promise<unknown>, what: string): void {
    if (this.closed()) return; // after close, memory is all that changes; the runners re-report
    const w = work().catch((err: unknown) => this.log.error({ err }, `store: ${what} failed`));
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
  }
}
