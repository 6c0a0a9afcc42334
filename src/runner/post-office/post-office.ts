/**
 * The runner's sidecar post office (DESIGN.md §2): per deployment, a directory of local ipc://
 * sockets, one per consumed socket of its manifest, bridged to remote peers by the routing table
 * the orchestrator pushes.
 *
 * - consumed `sub` sockets (market data) get a market-data relay (market-data-relay.ts) on the
 *   process's relay thread (relay-thread.ts): route changes never disconnect the strategy's socket;
 * - consumed `dealer` sockets (orders) get an order path (order-path.ts) that checks the account,
 *   stamps the fencing envelope, can be closed at once, and connects to a gateway that runs CURVE
 *   with the runner's key pair when the route names the gateway's server key;
 * - offered sockets are bound by the process itself on a port the runner allocates, so they
 *   need nothing here; other consumed patterns are refused.
 *
 * Ordering rule: addDeployment, applyRoutes, removeDeployment and close run one at a time, in
 * call order, so a route change never races the creation or teardown of the sockets it touches
 * (and an id being removed cannot be bound again before its sockets are closed). setOrderPath
 * and counters are synchronous and take effect at once.
 *
 * The lease: a runner binds its lease (bindLease) before it adds any deployment; every order path
 * asks it, on the monotonic clock, before it reads or sends an order (order-path.ts).
 */
import { chmodSync, mkdirSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { compareRoutes } from "../../layout/routing.ts";
import {
  checkRoute,
  planSockets,
  type DeploymentSocket,
  type OrderPathState,
  type PlannedSocket,
  type PostOfficeRouteUpdate,
} from "./deployment-plan.ts";
import { ipcPath } from "./ipc-endpoint.ts";
import { OrderPath } from "./order-path.ts";
import {
  compilePostOfficeOptions,
  NO_LEASE_CHECK,
  type CompiledPostOfficeOptions,
  type LeaseView,
  type PostOfficeOptions,
} from "./post-office-options.ts";
import { RelayThread, type RelayHandle } from "./relay-thread.ts";
import { handOver, makeOwnedDir, PASS_THROUGH_DIR_MODE, type RunAs } from "../uids/index.ts";
import type { RouteCounters } from "./route-counters.ts";

type Bridge =
  | { readonly kind: "market-data"; readonly relay: RelayHandle }
  | { readonly kind: "orders"; readonly path: OrderPath };

interface LocalSocket extends PlannedSocket {
  readonly bridge: Bridge;
}

interface Deployment {
  readonly id: string;
  readonly dir: string;
  readonly sockets: Map<string, LocalSocket>;
}

/** The runner's post office; see the file comment. */
export class PostOffice {
  readonly #options: CompiledPostOfficeOptions;
  readonly #relays: RelayThread;
  readonly #deployments = new Map<string, Deployment>();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #lease: LeaseView = NO_LEASE_CHECK;

  constructor(options: PostOfficeOptions) {
    this.#options = compilePostOfficeOptions(options);
    // Started now rather than at the first market-data socket, so that no spawn waits for it.
    this.#relays = RelayThread.acquire();
  }

  /** Resolves once the relay thread has started (rejects if it cannot start). */
  ready(): Promise<void> {
    return this.#relays.ready();
  }

  /**
   * The runner's lease, which every order path asks before it reads or sends an order (its
   * remainingMs on this post office's clock). Until one is bound, none is checked.
   */
  bindLease(lease: LeaseView): void {
    this.#lease = lease;
  }

  /** The CURVE public key its order paths present to gateways that run CURVE. */
  get curvePublicKey(): string {
    return this.#options.curveKeyPair.publicKey;
  }

  /**
   * Creates the local endpoints of a deployment's consumed sockets, routed to nobody until
   * applyRoutes names their remotes, and resolves to them by socket name (for HIVE_SOCKET_<NAME>).
   * Rejects with HiveError: AlreadyExists for a known id; InvalidArgument for a pattern the post
   * office does not bridge, a repeated socket name, or a socket path over the Unix limit;
   * FailedPrecondition when a local endpoint cannot be bound. Nothing is left behind on failure.
   *
   * With `runAs` (the deployment's own uid), its directory is 0700 and owned by that uid, and so
   * are its sockets once bound: the deployment can connect to them, no other uid can even reach
   * them (EACCES). `strategies/` above them is 0711: passed through, never listed.
   */
  addDeployment(
    deploymentId: string,
    sockets: readonly DeploymentSocket[],
    state: OrderPathState & { readonly runAs?: RunAs },
  ): Promise<Record<string, string>> {
    return this.#serial(async () => {
      this.#checkOpen();
      if (this.#deployments.has(deploymentId)) {
        throw new HiveError(
          ErrorCode.AlreadyExists,
          `deployment ${deploymentId} is in the post office already`,
        );
      }
      const planned = planSockets(this.#options.runDir, deploymentId, sockets);
      const dir = join(this.#options.runDir, "strategies", deploymentId);
      const deployment: Deployment = { id: deploymentId, dir, sockets: new Map() };
      const strategies = join(this.#options.runDir, "strategies");
      mkdirSync(strategies, { recursive: true, mode: PASS_THROUGH_DIR_MODE });
      chmodSync(strategies, PASS_THROUGH_DIR_MODE);
      if (state.runAs) makeOwnedDir(dir, state.runAs);
      else mkdirSync(dir, { recursive: true });
      this.#deployments.set(deploymentId, deployment);
      try {
        for (const socket of planned) {
          deployment.sockets.set(socket.name, {
            ...socket,
            bridge: await this.#openBridge(deploymentId, socket, state),
          });
          if (state.runAs) handOver(ipcPath(socket.local), state.runAs);
        }
      } catch (err) {
        await this.#remove(deploymentId);
        throw err;
      }
      this.#options.log.info(
        { deploymentId, sockets: planned.map((p) => p.name) },
        "post office: deployment added",
      );
      return Object.fromEntries(planned.map((p) => [p.name, p.local]));
    });
  }

  /**
   * Applies one runner's route update: removals (routed to nobody) and upserts (routed to
   * exactly their remotes), order paths first; idempotent. The whole update is checked before
   * anything changes; a step that fails then (market data while its relay thread is down) does
   * not stop the others, and the first failure is thrown once all were tried.
   * Throws HiveError: NotFound for an upsert of an unknown deployment or socket; InvalidArgument
   * for a route that disagrees with the deployment (pattern, local endpoint), a bad address, or
   * more than one remote on an order path.
   * A removal of an unknown deployment is ignored: it may have been removed already.
   */
  applyRoutes(update: PostOfficeRouteUpdate): Promise<void> {
    return this.#serial(async () => {
      this.#checkOpen();
      const upserts = [...update.upserts]
        .sort(compareRoutes)
        .map((route) => checkRoute(route, this.#deployments.get(route.deploymentId)?.sockets));
      const removals = update.removals.flatMap((removal) => {
        const socket = this.#deployments.get(removal.deploymentId)?.sockets.get(removal.socket);
        return socket === undefined ? [] : [socket];
      });
      const steps = [
        ...removals.map((socket) => ({
          socket,
          remotes: [] as readonly string[],
          curveServerKey: undefined,
        })),
        ...upserts,
      ];
      // Order paths first, and each step whatever the others do: a gateway move must not wait
      // for, or fail with, market data (whose relay thread may be down). The first failure is
      // reported once every step was tried.
      const byKind = (kind: Bridge["kind"]) => steps.filter((step) => step.socket.bridge.kind === kind);
      let failure: HiveError | undefined;
      for (const { socket, remotes, curveServerKey } of [...byKind("orders"), ...byKind("market-data")]) {
        try {
          await routeTo(socket, remotes, curveServerKey);
        } catch (err) {
          failure ??= HiveError.from(err);
        }
      }
      if (failure !== undefined) throw failure;
    });
  }

  /**
   * Opens or closes a deployment's order path at once, and sets the epoch stamped from now on
   * (a lower epoch than the current one is ignored). Throws HiveError NotFound for an unknown id.
   */
  setOrderPath(deploymentId: string, open: boolean, epoch?: bigint): void {
    const deployment = this.#deployment(deploymentId);
    for (const socket of deployment.sockets.values()) {
      if (socket.bridge.kind === "orders") socket.bridge.path.setOpen(open, epoch);
    }
    this.#options.log.info({ deploymentId, open, epoch: epoch?.toString() }, "post office: order path set");
  }

  /** Counts of every route, by (deploymentId, socket); see route-counters.ts for what they mean. */
  counters(): RouteCounters[] {
    const out: RouteCounters[] = [];
    for (const deployment of this.#deployments.values()) {
      for (const socket of deployment.sockets.values()) {
        out.push(countersOf(deployment.id, socket));
      }
    }
    return out.sort(compareRoutes);
  }

  /** Closes a deployment's sockets and removes its directory; a no-op for an unknown id. */
  removeDeployment(deploymentId: string): Promise<void> {
    return this.#serial(() => this.#remove(deploymentId));
  }

  /** Removes every deployment; afterwards every call but close and counters throws. */
  close(): Promise<void> {
    const first = !this.#closed;
    this.#closed = true;
    return this.#serial(async () => {
      try {
        for (const id of [...this.#deployments.keys()]) await this.#remove(id);
      } finally {
        if (first) await this.#relays.release();
      }
      try {
        rmdirSync(join(this.#options.runDir, "strategies"));
      } catch {
        // Not empty (someone else's files) or never created: either way not ours to remove.
      }
    });
  }

  async #openBridge(deploymentId: string, socket: PlannedSocket, state: OrderPathState): Promise<Bridge> {
    const local = socket.local;
    const label = `${deploymentId}/${socket.name}`;
    const { highWaterMark, log, limits } = this.#options;
    if (socket.kind === "market-data") {
      const relay = await this.#relays.open({
        path: ipcPath(local),
        highWaterMark,
        limits: {
          maxFrameBytes: limits.maxMarketDataFrameBytes,
          maxMessageBytes: limits.maxMarketDataMessageBytes,
        },
        label,
        log,
      });
      return { kind: "market-data", relay };
    }
    const path = OrderPath.open({
      deploymentId,
      localEndpoint: local,
      epoch: state.epoch,
      open: state.ordersOpen,
      accounts: state.accounts ?? [],
      curveKeyPair: this.#options.curveKeyPair,
      highWaterMark,
      maxOrderBytes: limits.maxOrderBytes,
      log,
      label,
      now: this.#options.now,
      clock: this.#options.clock,
      leaseRemainingMs: () => this.#lease.remainingMs(),
      maxQueueMs: this.#options.maxOrderQueueMs,
      ...(state.rateLimit === undefined ? {} : { rateLimit: state.rateLimit }),
    });
    return { kind: "orders", path };
  }

  async #remove(deploymentId: string): Promise<void> {
    const deployment = this.#deployments.get(deploymentId);
    if (deployment === undefined) return;
    try {
      await closeSockets(deployment);
    } finally {
      rmSync(deployment.dir, { recursive: true, force: true });
      this.#deployments.delete(deploymentId);
    }
    this.#options.log.info({ deploymentId }, "post office: deployment removed");
  }

  #deployment(deploymentId: string): Deployment {
    const deployment = this.#deployments.get(deploymentId);
    if (deployment === undefined) {
      throw new HiveError(ErrorCode.NotFound, `deployment ${deploymentId} is not in this post office`);
    }
    return deployment;
  }

  #checkOpen(): void {
    if (this.#closed) throw new HiveError(ErrorCode.FailedPrecondition, "the post office is closed");
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

async function routeTo(
  socket: LocalSocket,
  remotes: readonly string[],
  curveServerKey: string | undefined,
): Promise<void> {
  if (socket.bridge.kind === "market-data") await socket.bridge.relay.setRemotes(remotes);
  else socket.bridge.path.setGateway(remotes[0], curveServerKey);
}

async function closeSockets(deployment: Deployment): Promise<void> {
  await Promise.all(
    [...deployment.sockets.values()].map((socket) =>
      socket.bridge.kind === "market-data" ? socket.bridge.relay.close() : socket.bridge.path.close(),
    ),
  );
}

function countersOf(deploymentId: string, socket: LocalSocket): RouteCounters {
  const base = { deploymentId, socket: socket.name, pattern: socket.pattern };
  if (socket.bridge.kind === "market-data") {
    const { relay } = socket.bridge;
    const f = relay.figures();
    return {
      ...base,
      kind: "market-data",
      remotes: relay.remotes,
      connectedRemotes: f.connectedRemotes,
      messages: f.messages,
      bytes: f.bytes,
      drops: f.drops,
    };
  }
  const f = socket.bridge.path.figures();
  return {
    ...base,
    kind: "orders",
    remotes: f.gateway === undefined ? [] : [f.gateway],
    connectedRemotes: socket.bridge.path.connected ? 1 : 0,
    messages: f.forwarded,
    bytes: f.forwardedBytes,
    drops:
      f.droppedClosed +
      f.droppedMalformed +
      f.droppedNoGateway +
      f.droppedUnreachable +
      f.droppedAccount +
      f.droppedInternal +
      f.droppedRateLimited +
      f.droppedLeaseExpired +
      f.droppedQueuedTooLong,
    orders: f,
  };
}
