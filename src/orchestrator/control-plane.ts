/**
 * What the orchestrator offers to people and tools: the operations behind the HTTP API (and so
 * behind the `hive` CLI and any dashboard, which use only the API). Views are plain JSON-able
 * objects; bigints (epochs) are decimal strings.
 */
import type { AccountView } from "../gateway/gateway-control.ts";
import type { Explanation } from "../scheduler/index.ts";

/** A node's health as the registry sees it (see node-spec.ts). */
export type NodeHealth = "ready" | "suspect" | "down";

/** One node, for `hive nodes`. */
export interface NodeView {
  readonly id: string;
  readonly pool: "live" | "backtest";
  readonly tags: readonly string[];
  readonly health: NodeHealth;
  readonly draining: boolean;
  /** Whether its runner is connected right now. */
  readonly connected: boolean;
  readonly capacity: {
    readonly cores: number;
    readonly memoryBytes: number;
    readonly exclusiveCores: number;
  };
  /** Committed by deployments (in-flight placements included). */
  readonly allocated: {
    readonly cores: number;
    readonly memoryBytes: number;
    readonly exclusiveCores: number;
  };
  readonly load: { readonly cpu: number; readonly memoryUsedBytes: number };
  readonly hotDatasets: readonly { readonly id: string; readonly version: string; readonly bytes: number }[];
  /** The runner's own words on its resource limits; `unlimited` when it has none. */
  readonly resourceLimits: string;
  readonly unlimited: boolean;
  readonly deployments: number;
  /** Milliseconds since its last heartbeat. */
  readonly lastHeartbeatAgoMs: number | null;
}

/**
 * A deployment's life as people see it.
 *
 *   pending ──(placed)──▶ starting ──(runner answered)──▶ running ──(exit)──▶ exited/failed
 *      ▲                                                     │                     │
 *      └──────────────(node lost, restart with backoff)──────┴─────────────────────┘
 *   any ──(stop)──▶ stopping ──▶ stopped
 */
export type DeploymentPhase =
  "pending" | "starting" | "running" | "stopping" | "stopped" | "exited" | "failed";

/** One deployment (an instance of a service), for `hive deployments` and `hive status`. */
export interface DeploymentView {
  readonly id: string;
  readonly layout: string;
  readonly service: string;
  readonly role: "active" | "standby";
  readonly replica: number;
  readonly nodeId: string | null;
  readonly phase: DeploymentPhase;
  readonly pid: number | null;
  /** Offered sockets: name → tcp://ip:port. */
  readonly addresses: Readonly<Record<string, string>>;
  readonly restarts: number;
  /** Decimal string; "0" for services that are not fenced. */
  readonly epoch: string;
  /** Why it is pending, from the scheduler ("4 nodes: pool mismatch; 1: not enough memory"). */
  readonly pendingReason: string | null;
  readonly lastExit: {
    readonly code: number | null;
    readonly signal: string | null;
    readonly reason: string;
  } | null;
}

/**
 * `hive explain` on the live cluster: where the service's instances are, and the scheduler's
 * explanation of one placement. If an instance is pending, that is the one explained (the first:
 * actives before standbys), on the cluster as it is and away from its siblings' nodes, so the
 * reasons are why it waits; otherwise it is where the active would go now, on the cluster without
 * the service's own instances (they would not be in the way of themselves).
 */
export interface ServiceExplanation extends Explanation {
  readonly instances: readonly {
    readonly id: string;
    readonly role: "active" | "standby";
    readonly replica: number;
    readonly nodeId: string | null;
    readonly phase: DeploymentPhase;
  }[];
  /** The id of the pending instance explained, if one is. */
  readonly explained?: string;
  /**
   * Set when that instance waits for its whole layout generation, placed all or nothing, and the
   * whole does not fit: why (the nodes below may take the instance alone, but it is not placed alone).
   */
  readonly waitsForLayout?: string;
}

/** A layout's state, for `hive status` and `hive apply`'s progress. */
export interface LayoutView {
  readonly name: string;
  readonly generation: number;
  readonly appliedAt: string;
  /**
   * `running` once every deployment runs (or finished) and every route is acknowledged;
   * `completed` once every deployment finished cleanly and none will start again.
   */
  readonly state: "pending" | "deploying" | "running" | "completed" | "degraded" | "stopping";
  readonly deployments: readonly DeploymentView[];
}

/** What an apply changed, service by service. */
export interface ApplyResult {
  readonly layout: string;
  readonly generation: number;
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly removed: readonly string[];
  readonly unchanged: readonly string[];
}

/** A dataset of the catalogue and where it is hot. */
export interface DatasetView {
  readonly id: string;
  readonly version: string;
  readonly source: string;
  readonly bytes: number;
  readonly hotOn: readonly string[];
}

/** Options of a log read. */
export interface LogOptions {
  readonly stream: "stdout" | "stderr";
  readonly follow: boolean;
  readonly tailBytes?: number;
  readonly signal?: AbortSignal;
}

/** The operations of the control plane. Errors are HiveErrors (ValidationError for bad files). */
export interface ControlPlane {
  /** Validates and applies a layout (YAML text); only what changed is touched. */
  applyLayout(source: string, fileName: string): Promise<ApplyResult>;
  listLayouts(): Promise<LayoutView[]>;
  /** NotFound if there is no such layout. */
  getLayout(name: string): Promise<LayoutView>;
  /** Stops every deployment of the layout and forgets it. */
  stopLayout(name: string): Promise<void>;
  listNodes(): Promise<NodeView[]>;
  listDeployments(filter?: { layout?: string; nodeId?: string }): Promise<DeploymentView[]>;
  /** Why a service of a layout goes where it goes, or why it is pending, on the live cluster. */
  explain(layout: string, service: string): Promise<ServiceExplanation>;
  /** Marks a node draining (it takes nothing new) or not. NotFound for an unknown node. */
  drain(nodeId: string, draining: boolean): Promise<NodeView>;
  /** A deployment's output, as its runner captured it. */
  logs(deploymentId: string, options: LogOptions): AsyncIterable<Uint8Array>;
  listDatasets(): Promise<DatasetView[]>;
  /** Fails a live strategy over to its warm standby on purpose; resolves once the standby may trade. */
  failover(layout: string, service: string): Promise<FailoverView>;
  /**
   * The kill switch: blocks new orders for an account at its gateway(s) and cancels resting ones.
   * NotFound for an account no layout trades and no gateway knows (a typo must not look like a
   * kill), unless `force`.
   */
  kill(account: string, reason: string, options?: { force?: boolean }): Promise<KillResult[]>;
  /** Lifts the kill switch of an account. */
  unkill(account: string): Promise<void>;
  /** Each gateway's accounts: who may trade them (fence), positions and open orders. */
  accounts(account?: string): Promise<GatewayAccountView[]>;
  /**
   * Makes this orchestrator the controller of a gateway in place of `from` (the cluster id the
   * gateway names in its refusals, or "none"): an operator's deliberate move. `by` says who asked
   * (the API token's name), for the gateway's audit. NotFound for a gateway not configured;
   * FailedPrecondition when `from` is not the gateway's controller.
   */
  reassignGateway(gateway: string, from: string, by: string): Promise<GatewayReassignView>;
}

/** What `hive gateway reassign` did. */
export interface GatewayReassignView {
  readonly gateway: string;
  /** The controller replaced (a cluster id), or null for a gateway none held. */
  readonly from: string | null;
  /** This orchestrator's cluster id, the gateway's controller from now on. */
  readonly to: string;
  /** The highest epoch the gateway holds (decimal). */
  readonly gatewayEpoch: string;
  /** This orchestrator's fencing sequence now: its next epoch is above both. */
  readonly storeEpoch: string;
}

/** What a failover did. */
export interface FailoverView {
  readonly layout: string;
  readonly service: string;
  readonly from: string | null;
  readonly to: string;
  /** The new fencing epoch, decimal. */
  readonly epoch: string;
  readonly fencedAfterMs: number;
  readonly openedAfterMs: number;
}

/** What the kill switch did at one gateway. */
export interface KillResult {
  readonly gateway: string;
  readonly account: string;
  /** Resting orders cancelled at the broker. */
  readonly cancelled: number;
}

/** An account as one gateway reports it. */
export interface GatewayAccountView extends AccountView {
  readonly gateway: string;
}
