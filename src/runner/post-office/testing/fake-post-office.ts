/**
 * An in-memory post office with the real one's API and checks (deployment-plan.ts) but no
 * sockets: for tests of the runner's logic, and for mock runners. It records what it was told
 * (endpoints, routes, order path state) so a test can assert on it; counters are all zero.
 */
import { ErrorCode, HiveError } from "../../../core/hive-error.ts";
import { compareRoutes } from "../../../layout/routing.ts";
import {
  checkRoute,
  planSockets,
  type DeploymentSocket,
  type OrderPathState,
  type PlannedSocket,
  type PostOfficeRouteUpdate,
} from "../deployment-plan.ts";
import type { RouteCounters } from "../route-counters.ts";

/** What the fake knows of one deployment. */
export interface FakeDeployment {
  readonly sockets: ReadonlyMap<string, PlannedSocket>;
  /** Remotes by socket name, as the last update left them. */
  readonly remotes: Map<string, readonly string[]>;
  /** The CURVE server key of each order path routed with one, by socket name. */
  readonly curveServerKeys: Map<string, string>;
  /** Accounts its orders may name (empty: any). */
  readonly accounts: readonly string[];
  epoch: bigint;
  ordersOpen: boolean;
}

/** A post office that binds nothing; see the file comment. */
export class FakePostOffice {
  /** Deployments by id, for assertions. */
  readonly deployments = new Map<string, FakeDeployment>();
  #closed = false;

  constructor(readonly options: { readonly runDir: string; readonly curvePublicKey?: string }) {}

  /** The CURVE public key it would present (the one it was given, else empty). */
  get curvePublicKey(): string {
    return this.options.curvePublicKey ?? "";
  }

  /** As PostOffice.addDeployment, without binding. */
  addDeployment(
    deploymentId: string,
    sockets: readonly DeploymentSocket[],
    state: OrderPathState,
  ): Promise<Record<string, string>> {
    return Promise.resolve().then(() => {
      this.#checkOpen();
      if (this.deployments.has(deploymentId)) {
        throw new HiveError(
          ErrorCode.AlreadyExists,
          `deployment ${deploymentId} is in the post office already`,
        );
      }
      const planned = planSockets(this.options.runDir, deploymentId, sockets);
      this.deployments.set(deploymentId, {
        sockets: new Map(planned.map((p) => [p.name, p])),
        remotes: new Map(planned.map((p) => [p.name, []])),
        curveServerKeys: new Map(),
        accounts: [...(state.accounts ?? [])],
        epoch: state.epoch,
        ordersOpen: state.ordersOpen,
      });
      return Object.fromEntries(planned.map((p) => [p.name, p.local]));
    });
  }

  /** As PostOffice.applyRoutes: the whole update is checked, then recorded. */
  applyRoutes(update: PostOfficeRouteUpdate): Promise<void> {
    return Promise.resolve().then(() => {
      this.#checkOpen();
      const upserts = update.upserts.map((route) => ({
        route,
        ...checkRoute(route, this.deployments.get(route.deploymentId)?.sockets),
      }));
      for (const removal of update.removals) {
        this.deployments.get(removal.deploymentId)?.remotes.set(removal.socket, []);
        this.deployments.get(removal.deploymentId)?.curveServerKeys.delete(removal.socket);
      }
      for (const { route, remotes, curveServerKey } of upserts) {
        const deployment = this.deployments.get(route.deploymentId);
        deployment?.remotes.set(route.socket, remotes);
        if (curveServerKey === undefined) deployment?.curveServerKeys.delete(route.socket);
        else deployment?.curveServerKeys.set(route.socket, curveServerKey);
      }
    });
  }

  /** As PostOffice.setOrderPath: the epoch only moves forward. */
  setOrderPath(deploymentId: string, open: boolean, epoch?: bigint): void {
    const deployment = this.deployments.get(deploymentId);
    if (deployment === undefined) {
      throw new HiveError(ErrorCode.NotFound, `deployment ${deploymentId} is not in this post office`);
    }
    deployment.ordersOpen = open;
    if (epoch !== undefined && epoch > deployment.epoch) deployment.epoch = epoch;
  }

  /** One zeroed entry per route, shaped as the real post office's. */
  counters(): RouteCounters[] {
    const out: RouteCounters[] = [];
    for (const [deploymentId, deployment] of this.deployments) {
      for (const socket of deployment.sockets.values()) {
        const remotes = deployment.remotes.get(socket.name) ?? [];
        out.push({
          deploymentId,
          socket: socket.name,
          pattern: socket.pattern,
          kind: socket.kind,
          remotes,
          connectedRemotes: remotes.length,
          messages: 0,
          bytes: 0,
          drops: 0,
        });
      }
    }
    return out.sort(compareRoutes);
  }

  /** Forgets a deployment; a no-op for an unknown id. */
  removeDeployment(deploymentId: string): Promise<void> {
    this.deployments.delete(deploymentId);
    return Promise.resolve();
  }

  /** Forgets everything; afterwards adds and route updates throw. */
  close(): Promise<void> {
    this.#closed = true;
    this.deployments.clear();
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closed) throw new HiveError(ErrorCode.FailedPrecondition, "the post office is closed");
  }
}
