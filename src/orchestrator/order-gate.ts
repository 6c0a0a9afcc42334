/**
 * Opening an active live strategy's order path, in the one order that keeps DESIGN.md §3's
 * invariant (ordered failover):
 *
 *   1. take an epoch from the store — durable before it is used, so it is never handed out again,
 *      even across an orchestrator restart — when the deployment has none (epoch 0: new, promoted,
 *      moved to another node, or its epoch was refused); one that has an epoch re-fences it (the
 *      same instance, re-adopted). "Needs a new epoch" is the durable epoch 0, never a flag in
 *      memory: an orchestrator restarted in between must not re-fence a lost copy's (id, epoch);
 *   2. fence every account it trades, at every such gateway, naming its node's CURVE key, and wait
 *      for each durable ack: from then on the gateway refuses every other deployment, every older
 *      epoch and every other node's connection, has cancelled the previous holder's resting
 *      orders, and admits the node's key on an orders socket of its own (whose port the answer
 *      carries; the node's routes go there, and the previous holder's node, if no fence names it
 *      any more, has had its connection dropped);
 *   3. make sure the runner has its routes to those sockets (`routed`), so that its order path
 *      is connecting while it is told to open;
 *   4. only then tell its runner to open the order path, stamping that epoch.
 *
 * Step 4 never happens without step 2 having succeeded for every account. If anything changed
 * meanwhile (the node was lost, a newer attempt started, it was demoted), the activation stops
 * before step 4 and says why. A refused fence (the gateway already has a newer epoch or the same
 * epoch for another deployment) means this epoch is spent: the next attempt takes a new one.
 *
 * A store behind a gateway (restored from a backup: the gateway holds an epoch this store never
 * gave) would otherwise climb one epoch per refused attempt; instead the refusal's `highestEpoch`
 * moves the store's sequence past the gateway's at once, so the next attempt passes, and the
 * `epoch-behind` alert is raised. A fence that takes an account from a deployment this
 * orchestrator does not know raises `unknown-previous` (gateway-alerts.ts).
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Layout } from "../domain/index.ts";
import type { FenceEntry } from "../gateway/gateway-control.ts";
import type { Deployment } from "./deployment.ts";
import type { Gateways } from "./gateways.ts";
import type { Store } from "./store/store.ts";

/** The store key the fencing epochs are taken from: one sequence for every account. */
export const EPOCH_KEY = "fencing";

/** What an activation needs from the orchestrator. */
export interface OrderGateDeps {
  readonly store: Store;
  readonly gateways: Gateways | undefined;
  /** Sends SetOrderPath to the deployment's runner; throws if it is not connected. */
  openPath(nodeId: string, deploymentId: string, epoch: bigint): void;
  /** Records a new epoch on the deployment (and writes it to the store). */
  setEpoch(d: Deployment, epoch: bigint): void;
  /**
   * Pushes the node's routes now if they changed (its orders sockets at the gateways just fenced)
   * and resolves once its runner acknowledged them, or gave up; never rejects.
   */
  routed?(nodeId: string): Promise<void>;
  /** Monotonic ms. */
  now(): number;
  /**
   * Whether this orchestrator knows a deployment id (it has it, forgot it after its stop, or
   * took it over with a gateway); a fence taking an account from one it does not raises the
   * `unknown-previous` alert. Without it, no such alert.
   */
  knows?(deploymentId: string): boolean;
}

/** One account fenced at one gateway. */
export interface FencedAccount {
  readonly gateway: string;
  readonly account: string;
  /** Who held it before, or null. */
  readonly previous: FenceEntry | null;
  /** Resting orders of the previous holder cancelled at the broker. */
  readonly cancelled: number;
}

/** A completed activation. */
export interface Activation {
  readonly deploymentId: string;
  readonly nodeId: string;
  readonly epoch: bigint;
  readonly fenced: readonly FencedAccount[];
  /** From the start to every fence acknowledged, and to the open sent, in ms. */
  readonly fencedAfterMs: number;
  readonly openedAfterMs: number;
}

/** The gateways a service of a layout sends orders to, by name. */
export function gatewaysOf(layout: Layout | undefined, service: string): string[] {
  return (layout?.gateways ?? [])
    .filter((g) => g.orders.some((end) => end.service === service))
    .map((g) => g.name);
}

/**
 * After a refused fence: when the gateway holds an epoch above every epoch the store has given
 * (a restored backup), moves the store's sequence past it, so the next attempt's epoch passes,
 * and raises the `epoch-behind` alert. A refusal within the store's own epochs (a newer
 * activation got there first) is the ordinary race, and changes nothing.
 */
async function catchUp(
  store: Store,
  gateways: Gateways,
  name: string,
  account: string,
  deploymentId: string,
  refused: { readonly current: FenceEntry; readonly highestEpoch?: string },
): Promise<void> {
  const current = BigInt(refused.current.epoch);
  const highest = refused.highestEpoch === undefined ? current : BigInt(refused.highestEpoch);
  const gatewayEpoch = highest > current ? highest : current;
  const ours = await store.currentEpoch(EPOCH_KEY);
  if (gatewayEpoch <= ours) return;
  const now = await store.advanceEpoch(EPOCH_KEY, gatewayEpoch);
  gateways.alerts.raise(
    name,
    "epoch-behind",
    { account, deploymentId, gatewayEpoch: gatewayEpoch.toString(), storeEpoch: ours.toString() },
    `gateway ${name} holds epoch ${gatewayEpoch} (${account}: ${refused.current.deploymentId} at ` +
      `${refused.current.epoch}), above every epoch this store has given (${ours}): the store is behind ` +
      `the gateway (restored from a backup?); its epoch sequence now continues after ${now}`,
  );
}

/**
 * Activates `d` (see the file comment). `still()` is asked after every wait: false means the
 * deployment is no longer the one to open (lost, demoted, restarted), and the activation stops.
 */
export async function activate(
  deps: OrderGateDeps,
  d: Deployment,
  layout: Layout | undefined,
  still: () => boolean,
): Promise<Activation> {
  const started = deps.now();
  const nodeId = d.rec.nodeId;
  if (nodeId === null) throw new HiveError(ErrorCode.FailedPrecondition, `${d.rec.id} is not placed`);
  const check = (step: string): void => {
    if (!still()) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${d.rec.id} changed while its order path was being opened (${step}); not opened`,
      );
    }
  };
  let epoch = d.rec.epoch;
  if (epoch === 0n) {
    epoch = await deps.store.nextEpoch(EPOCH_KEY);
    // Recorded before anything can stop the activation: an epoch taken is never fenced by anyone
    // else, so keeping it is safe, and dropping it could leave the instance on epoch 0 forever.
    deps.setEpoch(d, epoch);
    check("taking an epoch");
  }
  const fenced: FencedAccount[] = [];
  for (const name of gatewaysOf(layout, d.rec.service)) {
    const gateways = deps.gateways;
    if (!gateways) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${d.rec.id} trades through gateway ${name}, but this orchestrator has no gateways configured`,
      );
    }
    for (const account of d.manifest.accounts) {
      const result = await gateways.fence(name, account, d.rec.id, epoch, nodeId);
      if (!result.ok) {
        deps.setEpoch(d, 0n); // this epoch is spent for this account: take a newer one next time
        await catchUp(deps.store, gateways, name, account, d.rec.id, result);
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `gateway ${name} refused to fence ${account} to ${d.rec.id} at epoch ${epoch}: ${result.reason} ` +
            `(it holds ${result.current.deploymentId} at epoch ${result.current.epoch})`,
        );
      }
      const previous = result.previous;
      if (
        previous !== null &&
        previous.deploymentId !== d.rec.id &&
        deps.knows !== undefined &&
        !deps.knows(previous.deploymentId)
      )
        gateways.alerts.raise(
          name,
          "unknown-previous",
          { account, previous: previous.deploymentId, previousEpoch: previous.epoch, deploymentId: d.rec.id },
          `fencing ${account} to ${d.rec.id} at epoch ${epoch} took it from ${previous.deploymentId} ` +
            `(epoch ${previous.epoch}), a deployment this orchestrator does not know: another control plane, ` +
            `or a restored store, steered this gateway`,
        );
      fenced.push({ gateway: name, account, previous, cancelled: result.cancelled });
      check(`fencing ${account} at ${name}`);
    }
  }
  const fencedAfterMs = deps.now() - started;
  await deps.routed?.(nodeId);
  check("before opening");
  deps.openPath(nodeId, d.rec.id, epoch);
  return {
    deploymentId: d.rec.id,
    nodeId,
    epoch,
    fenced,
    fencedAfterMs,
    openedAfterMs: deps.now() - started,
  };
}
