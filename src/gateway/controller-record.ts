/**
 * One controller per gateway: the contract both ends of the control channel share (the gateway's
 * guard, controller-guard.ts, and the orchestrator's client, control-client.ts).
 *
 * Every control request an orchestrator sends names its cluster id (`controller`, the id its
 * store made once: store.ts). The gateway records the first controller whose fence it applies,
 * and from then on answers the steering ops (STEERING_OPS) of that controller only; any other is
 * refused with `permission_denied` and the stable reason `wrong-controller`, naming both ids,
 * until an operator moves it with `hive gateway reassign` (the `reassign` op). Reads stay open to
 * every orchestrator key the gateway admits. docs/gateway.md, "One controller per gateway".
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";

/** Who steers a gateway, as it recorded it. */
export interface ControllerView {
  /** The cluster id of the orchestrator (its store's). */
  readonly clusterId: string;
  /** When the gateway recorded it (first fence, or reassign), ms since the Unix epoch. */
  readonly sinceUnixMs: number;
}

/**
 * The ops only the controller may send: they change who trades, what is cancelled, or the prices
 * a paper broker decides on. `nodes`, `accounts`, `status` and `audit` only read, and stay open.
 */
export const STEERING_OPS = ["fence", "kill", "unkill", "marketData"] as const;

/** The stable reason of a refusal for being another controller (beside code permission_denied). */
export const WRONG_CONTROLLER = "wrong-controller";

/** Longest cluster id the gateway accepts (a UUID is 36 characters). */
export const MAX_CLUSTER_ID_LENGTH = 100;

/** `from` in a `reassign` for a gateway no controller holds yet. */
export const NO_CONTROLLER = "none";

/** What `reassign` answers. */
export interface ReassignResult {
  /** The controller it replaced; null for a gateway no controller held. */
  readonly previous: ControllerView | null;
  /** The caller, recorded now. */
  readonly controller: ControllerView;
  /**
   * The highest epoch of any fence the gateway holds ("0" with none): the new controller's
   * epoch sequence must pass it before its fences can move an account.
   */
  readonly highestEpoch: string;
}

/** A steering op refused because another controller holds the gateway. */
export class WrongControllerError extends HiveError {
  override readonly name = "WrongControllerError";

  constructor(
    /** The controller the gateway recorded. */
    readonly holder: string,
    /** The controller the request named; null when it named none. */
    readonly caller: string | null,
    message: string,
  ) {
    super(ErrorCode.PermissionDenied, message);
  }

  /** The refusal of `op` from `caller` at a gateway held by `holder` (since `sinceUnixMs`). */
  static of(op: string, holder: ControllerView, caller: string | null): WrongControllerError {
    const from = caller === null ? "a client that names no controller" : `cluster ${caller}`;
    return new WrongControllerError(
      holder.clusterId,
      caller,
      `${WRONG_CONTROLLER}: ${op} refused: this gateway is controlled by cluster ${holder.clusterId} ` +
        `(since ${new Date(holder.sinceUnixMs).toISOString()}), and the request came from ${from}; ` +
        `an operator moves it on purpose with \`hive gateway reassign <gateway> --from ${holder.clusterId}\` ` +
        `sent to the orchestrator that should take it`,
    );
  }
}
