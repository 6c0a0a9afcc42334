/**
 * The fence rules as pure functions (DESIGN.md §3, layer 1): who may trade an account, from
 * which node, and how the entry may change. No I/O here; the gateway core applies the decisions
 * and makes them durable.
 *
 * Ordering rule: an entry only moves forward. A fence with an epoch above the current one wins;
 * the same (deploymentId, epoch) again is an idempotent success (a retried fence), or, naming
 * another node key, a rebinding of that same instance to the key its node has now (a runner that
 * restarted with a new key re-adopts its deployment at its epoch; a fence written before node
 * binding existed names no node); anything else (a lower epoch, or the same epoch for another
 * deployment) is refused with the current entry.
 *
 * Node binding: an entry that names a node key accepts orders only from the connection
 * authenticated with that key (`wrong-node` otherwise); one that names none (null) accepts them
 * from any admitted connection.
 */
import type { FenceEntry } from "./gateway-control.ts";
import { GatewayRejectCode } from "../protocol/orders/index.ts";

/** What to do with a fence request. */
export type FenceDecision =
  /** Write the new entry (first fence of the account, or a higher epoch). */
  | { readonly kind: "advance"; readonly previous: FenceEntry | null }
  /** The same (deploymentId, epoch, nodeKey) is already the entry: succeed without change. */
  | { readonly kind: "unchanged"; readonly current: FenceEntry }
  /** The same (deploymentId, epoch) with another node key: write the key, nothing else moves. */
  | { readonly kind: "rebind"; readonly current: FenceEntry }
  /** Refuse: the epoch is not above the current one. */
  | { readonly kind: "refused"; readonly current: FenceEntry; readonly reason: string };

/** Decides a fence request against the account's current entry (or null). */
export function decideFence(
  current: FenceEntry | null,
  deploymentId: string,
  epoch: bigint,
  nodeKey: string | null = null,
): FenceDecision {
  if (current === null) return { kind: "advance", previous: null };
  const currentEpoch = BigInt(current.epoch);
  if (epoch > currentEpoch) return { kind: "advance", previous: current };
  if (epoch === currentEpoch && deploymentId === current.deploymentId)
    return current.nodeKey === nodeKey ? { kind: "unchanged", current } : { kind: "rebind", current };
  return {
    kind: "refused",
    current,
    reason:
      `account ${current.account} is fenced to ${current.deploymentId} at epoch ${current.epoch}; ` +
      `expected an epoch above ${current.epoch}, found ${epoch.toString()} for ${deploymentId}`,
  };
}

/**
 * The fence check of one order: undefined if (deploymentId, epoch) holds the account and the
 * order came from the node the entry names (`peerKey`: the key its connection was authenticated
 * with, undefined for a connection bound to no key), else the reject code. Epochs are compared
 * as decimal text, which the envelope check made canonical.
 */
export function checkFence(
  entry: FenceEntry | undefined,
  deploymentId: string,
  epoch: string,
  peerKey?: string,
):
  | typeof GatewayRejectCode.NotFenced
  | typeof GatewayRejectCode.Fenced
  | typeof GatewayRejectCode.StaleEpoch
  | typeof GatewayRejectCode.WrongNode
  | undefined {
  if (entry === undefined) return GatewayRejectCode.NotFenced;
  if (entry.deploymentId !== deploymentId) return GatewayRejectCode.Fenced;
  if (entry.epoch !== epoch) return GatewayRejectCode.StaleEpoch;
  if (entry.nodeKey !== null && entry.nodeKey !== peerKey) return GatewayRejectCode.WrongNode;
  return undefined;
}
