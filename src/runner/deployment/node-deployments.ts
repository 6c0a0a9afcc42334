/**
 * The deployments of this node, from the spawn to the release: idempotent spawns (the steps of
 * spawn-hooks.ts, then the poststart: order path and record), stops, exit watching and the one
 * release of what each holds. The runner hands it the orchestrator's spawn, stop and order-path
 * messages and reads it for registrations and heartbeats.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { SocketPattern } from "../../domain/index.ts";
import { toRunnerError } from "../../protocol/domain-convert.ts";
import {
  RunnerErrorCode,
  type SpawnRequest,
  type SpawnResponse,
  type SpawnResponseSchema,
  type StopRequest,
  type StopResponseSchema,
} from "../../protocol/index.ts";
import type { RunnerPayload } from "../link/orchestrator-link.ts";
import { adoptionRecordOf, removeAdoptionRecord, saveAdoptionRecord } from "./adoption-record.ts";
import type { CpuPinning } from "./cpu-pinning.ts";
import { processStatus, type NodeDeployment } from "./node-deployment.ts";
import { OrderPathCommands } from "./order-path-commands.ts";
import type { SelfFencing } from "./self-fencing.ts";
import { spawnDeployment, type SpawnContext } from "./spawn-hooks.ts";

/** A spawn in progress: its request, and the ids of the same spawn asked again meanwhile. */
export interface Spawning {
  readonly request: SpawnRequest;
  readonly waiting: string[];
}

/** A SpawnResponse's fields but the ids it answers. */
type SpawnAnswer = Omit<
  Exclude<MessageInitShape<typeof SpawnResponseSchema>, SpawnResponse>,
  "requestId" | "deploymentId"
>;

/** What the deployments of a node are given by the runner. */
export interface NodeDeploymentsOptions extends Omit<SpawnContext, "ordersAllowed"> {
  readonly fencing: SelfFencing;
  /** Sends a message to the orchestrator (answers to spawns and stops). */
  readonly send: (message: RunnerPayload) => void;
}

/** The deployments of this node; see the file comment. */
export class NodeDeployments {
  readonly #all = new Map<string, NodeDeployment>();
  /** Deployments whose spawn is in progress. */
  readonly #spawning = new Map<string, Spawning>();
  /** The orchestrator's SetOrderPath commands. */
  readonly orderPaths: OrderPathCommands;

  constructor(private readonly o: NodeDeploymentsOptions) {
    this.orderPaths = new OrderPathCommands({
      options: o.options,
      deps: o.deps,
      fencing: o.fencing,
      find: (id) => this.#all.get(id),
      isSpawning: (id) => this.#spawning.has(id),
    });
  }

  /** What the spawn steps (and the rebuild of a re-adopted process) use. */
  get spawnContext(): SpawnContext {
    const { options, deps, pinning, logDir, datasetProgress, fencing } = this.o;
    return { options, deps, pinning, logDir, datasetProgress, ordersAllowed: () => fencing.ordersAllowed };
  }

  /** The pinning of exclusive cores. */
  get pinning(): CpuPinning {
    return this.o.pinning;
  }

  /** A deployment of this node, running or ended, by id. */
  get(deploymentId: string): NodeDeployment | undefined {
    return this.#all.get(deploymentId);
  }

  /** Every deployment of this node, running or ended. */
  values(): IterableIterator<NodeDeployment> {
    return this.#all.values();
  }

  /** The ids of every deployment of this node. */
  ids(): string[] {
    return [...this.#all.keys()];
  }

  /** The spawns in progress. */
  spawning(): IterableIterator<Spawning> {
    return this.#spawning.values();
  }

  /** Lists a deployment (a re-adopted one, before anything of it is taken back). */
  track(d: NodeDeployment): void {
    this.#all.set(d.request.deploymentId, d);
  }

  /** Stops listing a deployment (its end has been reported, or it was never adopted). */
  forget(deploymentId: string): void {
    this.#all.delete(deploymentId);
  }

  /**
   * A deployment that can be routed: here, and its sockets not released (a route for one whose
   * process ended a moment ago is skipped, not fatal).
   */
  routable(deploymentId: string): NodeDeployment | undefined {
    const d = this.#all.get(deploymentId);
    return d !== undefined && d.released === undefined ? d : undefined;
  }

  /** The pattern of a deployment's consumed socket, for a route to it. */
  patternOf(deploymentId: string, socket: string): SocketPattern {
    const pattern = this.#all.get(deploymentId)?.patterns.get(socket);
    if (!pattern)
      throw new HiveError(
        "not_found",
        `route for ${deploymentId}.${socket}: no such deployment or socket here`,
      );
    return pattern;
  }

  /**
   * Spawns a deployment and answers the orchestrator. Spawns are idempotent by deployment id.
   * Asked again for one that runs (a retry after a reconnect or after the orchestrator restarted,
   * under the same request id or a new one), the runner answers with the process it has; asked
   * while it is still being spawned (a dataset loading), it answers every request when that one
   * spawn is done.
   */
  async spawn(request: SpawnRequest): Promise<void> {
    const id = request.deploymentId;
    const existing = this.#all.get(id);
    const reply = (requestId: string, answer: SpawnAnswer) =>
      this.o.send({ case: "spawnResponse", value: { requestId, deploymentId: id, ...answer } });
    if (existing && !existing.final) {
      if (existing.process?.state === "running") {
        reply(request.requestId, {
          ok: true,
          pid: existing.process.pid,
          addresses: existing.addresses,
          ports: existing.ports,
        });
        return;
      }
      reply(request.requestId, {
        ok: false,
        error: {
          code: RunnerErrorCode.ALREADY_EXISTS,
          message: `${id} is being stopped on ${this.o.options.nodeId}; ask again once it has ended`,
        },
      });
      return;
    }
    const inProgress = this.#spawning.get(id);
    if (inProgress) {
      inProgress.waiting.push(request.requestId);
      this.o.deps.log.info({ deploymentId: id }, "spawn already in progress; it answers this request too");
      return;
    }
    const spawning: Spawning = { request, waiting: [] };
    this.#spawning.set(id, spawning);
    const answerAll = (answer: SpawnAnswer) => {
      for (const requestId of [request.requestId, ...spawning.waiting]) reply(requestId, answer);
    };
    try {
      // A previous instance of this id is being released: let it finish before reusing the id.
      await existing?.released;
      const deployment = await spawnDeployment(this.spawnContext, request);
      this.#all.set(id, deployment);
      // From here its exit frees what it holds, whatever happens next.
      this.watchExit(deployment);
      await this.poststart(deployment);
      this.o.deps.log.info(
        { deploymentId: id, pid: deployment.process?.pid, addresses: deployment.addresses },
        "spawned",
      );
      answerAll({
        ok: true,
        pid: deployment.process?.pid ?? 0,
        addresses: deployment.addresses,
        ports: deployment.ports,
      });
    } catch (err) {
      this.o.deps.log.warn({ deploymentId: id, err: HiveError.from(err).message }, "spawn failed");
      answerAll({ ok: false, error: toRunnerError(err) });
    } finally {
      this.#spawning.delete(id);
      this.orderPaths.spawnDone(id);
    }
  }

  /**
   * What runs once the process is launched: its order path (order-path-commands.ts), then its
   * record. Launched but not set up (its record not written, its order path not set), it must not
   * run unrecorded: it is killed (a stop it obeys would end it with code 0, which reads as a clean
   * finish) and freed by its exit watcher; it stays listed with its end, so the heartbeats tell an
   * orchestrator that adopted it from a Register meanwhile.
   */
  private async poststart(d: NodeDeployment): Promise<void> {
    try {
      await this.orderPaths.afterSpawn(d);
      await saveAdoptionRecord(this.o.options.stateDir, adoptionRecordOf(d, this.o.options.runDir));
    } catch (err) {
      await d.process?.kill().catch((killErr: unknown) =>
        // It may have ended by itself meanwhile; its exit watcher frees it either way.
        this.o.deps.log.debug(
          { deploymentId: d.request.deploymentId, err: killErr },
          "kill of a process not set up",
        ),
      );
      await this.release(d);
      throw err;
    }
  }

  /** When a process ends on its own, its resources are freed at once; its status stays reported. */
  watchExit(d: NodeDeployment): void {
    const p = d.process;
    if (!p) return;
    void p.exited.then(async (status) => {
      d.final = d.selfFenced === undefined ? status : { ...status, reason: d.selfFenced };
      this.o.deps.log.info({ deploymentId: d.request.deploymentId, reason: status.reason }, "process ended");
      await this.release(d);
    });
  }

  /** Frees what a deployment holds, once, however many paths (exit, stop) ask for it. */
  release(d: NodeDeployment): Promise<void> {
    d.released ??= this.releaseNow(d);
    return d.released;
  }

  private async releaseNow(d: NodeDeployment): Promise<void> {
    const id = d.request.deploymentId;
    const deps = this.o.deps;
    deps.ports.release(id);
    this.o.pinning.release(id);
    for (const ds of d.datasets) deps.datasets.release(ds.id, ds.version);
    d.datasets = [];
    await deps.postOffice
      .removeDeployment(id)
      .catch((err: unknown) => deps.log.error({ deploymentId: id, err }, "local sockets not removed"));
    await d.cgroup
      ?.destroy()
      .catch((err: unknown) => deps.log.error({ deploymentId: id, err }, "cgroup not removed"));
    // Logged, not thrown: a release runs from an exit watcher too, where nobody could catch it.
    await removeAdoptionRecord(this.o.options.stateDir, id).catch((err: unknown) =>
      deps.log.error({ deploymentId: id, err }, "deployment record not removed"),
    );
    // Last: its uid goes back only once nothing of it runs (its cgroup emptied) or is recorded.
    if (d.runAs !== undefined && deps.uids?.uidOf(id) === d.runAs.uid) deps.uids.release(id);
  }

  /** Stops a deployment's process (SIGTERM, then SIGKILL after the grace) and frees what it held. */
  async stop(deploymentId: string, graceMs: number): Promise<NodeDeployment> {
    const d = this.#all.get(deploymentId);
    if (!d?.process)
      throw new HiveError(ErrorCode.NotFound, `no deployment ${deploymentId} on ${this.o.options.nodeId}`);
    const status = d.final ?? (await d.process.stop(graceMs));
    d.final = status;
    await this.release(d);
    return d;
  }

  /** Stops a deployment as the orchestrator asks, and answers with its final status. */
  async answerStop(r: StopRequest): Promise<void> {
    const ids = { requestId: r.requestId, deploymentId: r.deploymentId };
    let value: MessageInitShape<typeof StopResponseSchema>;
    try {
      const d = await this.stop(r.deploymentId, r.gracePeriodMs || this.o.options.stopGraceMs);
      this.#all.delete(r.deploymentId);
      value = { ...ids, ok: true, finalStatus: processStatus(d) };
    } catch (err) {
      value = { ...ids, ok: false, error: toRunnerError(err) };
    }
    this.o.send({ case: "stopResponse", value });
  }
}
