/**
 * What the orchestrator asks of a broker gateway over the authenticated control channel. The
 * orchestrator codes against this interface; `GatewayClient` (control-client.ts) implements it
 * over ZeroMQ with CURVE, and tests may use a fake.
 *
 * Every call rejects with a HiveError: `unavailable` when the gateway did not answer in time (the
 * caller retries; a fence that timed out may or may not have been applied, which is safe because
 * fencing is idempotent for the same epoch and refuses lower ones), `permission_denied` when the
 * gateway refused the caller (a WrongControllerError when another controller holds the gateway:
 * controller-record.ts), `failed_precondition` for a refused fence (see FenceResult).
 */
import type { ControllerView, ReassignResult } from "./controller-record.ts";

/** One row of the fence table: who may trade an account, from which node, and since which epoch. */
export interface FenceEntry {
  readonly account: string;
  readonly deploymentId: string;
  /** The epoch as a decimal string (JSON numbers cannot hold every uint64). */
  readonly epoch: string;
  /**
   * The CURVE public key (Z85) of the node that hosts the deployment: its orders are accepted
   * only on the connection authenticated with this key. Null for a fence that names no node (one
   * written before node binding existed, or by a gateway without CURVE): any admitted connection.
   */
  readonly nodeKey: string | null;
  /** When the gateway wrote it, ms since the Unix epoch. */
  readonly fencedAtUnixMs: number;
}

/** The answer to `fence`. */
export type FenceResult =
  | {
      readonly ok: true;
      /** The entry it replaced, or null for an account fenced for the first time. */
      readonly previous: FenceEntry | null;
      /** Resting orders of the previous deployment cancelled at the broker. */
      readonly cancelled: number;
      /**
       * True when the same (deploymentId, epoch, nodeKey) was already the entry: a retried fence,
       * answered as a success without change.
       */
      readonly unchanged: boolean;
      /**
       * The port of the orders socket of the node the fence names (on the host of the gateway's
       * orders address), where that node's runner must connect; null when it names none.
       */
      readonly ordersPort: number | null;
      /**
       * The node key the previous entry named, when no fence names it any more: its orders socket
       * is closed (its connections dropped) with this answer. Null otherwise.
       */
      readonly released: string | null;
    }
  | {
      readonly ok: false;
      /** Why: an epoch not above the current one. */
      readonly reason: string;
      readonly current: FenceEntry;
      /**
       * The highest epoch of any fence the gateway holds (decimal; absent from gateways older
       * than issue 17): an orchestrator whose epoch sequence is below it has a store behind the
       * gateway (a restored backup) and moves its sequence past it at once.
       */
      readonly highestEpoch?: string;
    };

/** An account's truth at the gateway, for a newly promoted instance and for audits. */
export interface AccountView {
  readonly account: string;
  readonly fence: FenceEntry | null;
  readonly killed: boolean;
  /** Net position per symbol (positive long), from the fills the broker reported. */
  readonly positions: Readonly<Record<string, number>>;
  readonly openOrders: readonly OpenOrderView[];
}

/** A resting order at the broker. */
export interface OpenOrderView {
  readonly clientOrderId: string;
  readonly deploymentId: string;
  readonly epoch: string;
  readonly symbol: string;
  readonly side: "buy" | "sell";
  readonly qty: number;
  readonly price: number;
}

/** The gateway's counters. */
export interface GatewayStatus {
  readonly accepted: number;
  /** Rejected orders by reason code (fenced, stale-epoch, not-fenced, duplicate, killed, risk-..., malformed). */
  readonly rejected: Readonly<Record<string, number>>;
  readonly fills: number;
  readonly accounts: number;
  /** Node keys admitted now: those the fence table names (each with its own orders socket). */
  readonly admittedNodes: number;
  /** Consumed client order ids remembered now (duplicates if sent again). */
  readonly orderIdsKept: number;
  /** Consumed ids forgotten since start, past their retention (`orderIdRetentionDays`). */
  readonly orderIdsForgotten: number;
  /** The orchestrator (cluster id) that steers it; null before the first fence. */
  readonly controller?: ControllerView | null;
  /** Steering ops refused since start for coming from another controller. */
  readonly controllerRefusals?: number;
}

/** The control channel's operations. */
export interface GatewayControl {
  /**
   * Lets `deploymentId` trade `account` from `epoch` on, from the node whose CURVE public key is
   * `nodeKey` only (omitted: from any admitted connection); durable before it resolves. The node's
   * key is admitted while a fence names it, and refused (its connection dropped) once none does.
   */
  fence(account: string, deploymentId: string, epoch: bigint, nodeKey?: string): Promise<FenceResult>;
  /** The node keys admitted now (those the fence table names), each with the port of its orders socket. */
  nodes(): Promise<Readonly<Record<string, number>>>;
  /** The kill switch: blocks new orders for the account and cancels its resting orders. */
  kill(account: string, reason: string): Promise<{ readonly cancelled: number }>;
  /** Lifts the kill switch. */
  unkill(account: string): Promise<void>;
  /** Every account, or one. */
  accounts(account?: string): Promise<readonly AccountView[]>;
  /** Market-data publishers the paper broker takes its prices from (tcp addresses; replaces the set). */
  marketData(sources: readonly string[]): Promise<void>;
  status(): Promise<GatewayStatus>;
  /**
   * Makes the caller the gateway's controller in place of `from` (its cluster id, or "none"),
   * an operator's deliberate move (`hive gateway reassign`); `by` says who asked, for the audit.
   * failed_precondition when `from` is not the controller the gateway has.
   */
  reassign(from: string, by?: string): Promise<ReassignResult>;
  close(): Promise<void>;
}
