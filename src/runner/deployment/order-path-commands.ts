/**
 * The orchestrator's commands for the order paths of this node's deployments (SetOrderPath): each
 * is recorded on the deployment and persisted (a restarted runner restores it), and applied at
 * once unless the runner has no lease, in which case the path stays closed until a lease is
 * granted again (self-fencing.ts). A command for a deployment still being spawned is kept until
 * its spawn is done, and applied then (`afterSpawn`).
 */
import type { CompiledRunnerOptions } from "../runner-options.ts";
import type { RunnerDeps } from "../runner-deps.ts";
import { adoptionRecordOf, saveAdoptionRecord } from "./adoption-record.ts";
import { hasOrderPath, type NodeDeployment } from "./node-deployment.ts";
import type { SelfFencing } from "./self-fencing.ts";
import { HiveError } from "../../core/hive-error.ts";

/** What the order-path commands act on. */
export interface OrderPathCommandsOptions {
  readonly options: CompiledRunnerOptions;
  readonly deps: RunnerDeps;
  readonly fencing: SelfFencing;
  /** The deployment of an id on this node, if any. */
  readonly find: (deploymentId: string) => NodeDeployment | undefined;
  /** Whether a deployment of that id is being spawned. */
  readonly isSpawning: (deploymentId: string) => boolean;
}

/** A command received while its deployment was being spawned. */
interface Commanded {
  readonly open: boolean;
  readonly epoch: bigint;
}

/** The order-path commands of this node; see the file comment. */
export class OrderPathCommands {
  /** SetOrderPath commands for deployments whose spawn was still in progress. */
  readonly #commandedDuringSpawn = new Map<string, Commanded>();

  constructor(private readonly o: OrderPathCommandsOptions) {}

  /** Records and applies the orchestrator's command for one order path. */
  async set(id: string, open: boolean, epoch: bigint): Promise<void> {
    const { deps, fencing } = this.o;
    const d = this.o.find(id);
    if (!d && this.o.isSpawning(id)) {
      this.#commandedDuringSpawn.set(id, { open, epoch });
      return;
    }
    const effective = fencing.effective(open);
    // A close takes effect before anything is written (the state disk may be slow, or the pool
    // threads busy); an open only once its record says so, so a restart cannot lose it.
    if (!effective) await deps.postOffice.setOrderPath(id, false, epoch);
    if (d) {
      d.ordersOpen = open;
      // Fencing epochs only move forward (the post office ignores a lower one too).
      if (epoch > d.epoch) d.epoch = epoch;
      await this.persist(d);
    }
    // The lease is asked again after the write: it may have run out meanwhile (self-fencing then
    // closed every path), and an open decided before the write must not undo that.
    if (open && !fencing.effective(true))
      deps.log.warn({ deploymentId: id, lease: fencing.state }, "order path stays closed: no lease");
    else if (open) await deps.postOffice.setOrderPath(id, true, epoch);
  }

  /**
   * A spawn's poststart: takes a command received while it was spawned, then sets its order path
   * as the command and the lease say (the lease may have come or gone while the spawn ran, and
   * self-fencing did not see it yet). Throws if self-fencing killed the live processes meanwhile.
   */
  async afterSpawn(d: NodeDeployment): Promise<void> {
    const id = d.request.deploymentId;
    const commanded = this.#commandedDuringSpawn.get(id);
    if (commanded) {
      d.ordersOpen = commanded.open;
      if (commanded.epoch > d.epoch) d.epoch = commanded.epoch;
    }
    if (!hasOrderPath(d)) return;
    const { fencing } = this.o;
    if (fencing.state === "killed") {
      // Self-fencing killed the live processes while this one was being spawned (it was not one
      // of them yet): it goes the same way.
      d.selfFenced = "self-fenced: the lease was lost while it was being spawned";
      throw new HiveError("failed_precondition", d.selfFenced);
    }
    await this.o.deps.postOffice.setOrderPath(id, fencing.effective(d.ordersOpen), d.epoch);
  }

  /** Forgets a command kept for a spawn, once that spawn is done (or failed). */
  spawnDone(id: string): void {
    this.#commandedDuringSpawn.delete(id);
  }

  /** Writes a deployment's record (what a restarted runner re-adopts it with). */
  private async persist(d: NodeDeployment): Promise<void> {
    // A released deployment has no record any more; writing one would resurrect it.
    if (d.final || d.released) return;
    await saveAdoptionRecord(this.o.options.stateDir, adoptionRecordOf(d, this.o.options.runDir)).catch(
      (err: unknown) =>
        this.o.deps.log.error({ deploymentId: d.request.deploymentId, err }, "deployment record not written"),
    );
  }
}
