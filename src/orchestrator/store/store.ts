/**
 * The orchestrator's desired-state store: what a restarted orchestrator must still know (layouts,
 * deployments, fencing epochs, the dataset catalogue, which nodes are draining). The runner
 * registry is soft state and is not here.
 *
 * The interface is narrow on purpose, so that an etcd implementation (DESIGN.md §5) can follow the
 * SQLite one: no SQL, every method async, and no query across entities beyond the ones listed.
 *
 * Atomicity: every method is atomic on its own, and `putDeployments` writes a batch all-or-nothing.
 * There is no general `transaction(fn)`: etcd's transactions are one round of compare-and-swap on
 * revisions decided before they run, not a callback that reads and then writes, so a callback
 * transaction could not mean the same thing on both. A caller that needs read-then-write is the
 * one orchestrator leader; the epochs, which must never repeat, are incremented inside the store.
 *
 * Durability: when a write's promise resolves, the write survives a crash of the process (and, for
 * SQLite, of the machine). `nextEpoch` in particular is durable before it resolves: an epoch handed
 * to the gateway is never handed out again (DESIGN.md §3).
 *
 * Every record given is copied; every record returned is a fresh copy the caller may change.
 * After `close()`, every method rejects with failed_precondition.
 */
import type { DatasetSpec } from "../../domain/index.ts";
import type { ApiTokenRecord, AuditEntry, AuditInput, AuditQuery } from "./auth-records.ts";
import type { DeploymentFilter, DeploymentRecord, LayoutRecord } from "./store-records.ts";

/** Which implementation a store is (`etcd` will join later). */
export type StoreKind = "sqlite" | "memory";

/** The desired-state store. Implementations: SqliteStore (the default), MemoryStore (the fake). */
export interface Store {
  /** Which implementation this is, for logs and `hive status`. */
  readonly kind: StoreKind;

  /**
   * The cluster id: made once, when the store is created, and never changed (a UUID). It names
   * the orchestrator (the control plane on this store) to the gateways it steers: a gateway
   * obeys the controller that fenced it first and refuses every other (docs/gateway.md,
   * "One controller per gateway"). A backup restored keeps it (the same cluster, behind in
   * time); a new store has a new one (another cluster).
   */
  clusterId(): Promise<string>;

  /** Creates or replaces the layout of that name. */
  putLayout(rec: LayoutRecord): Promise<void>;
  /** The layout of that name, or undefined. */
  getLayout(name: string): Promise<LayoutRecord | undefined>;
  /** Every layout, sorted by name. */
  listLayouts(): Promise<LayoutRecord[]>;
  /** Deletes a layout (not its deployments); true if it existed. */
  deleteLayout(name: string): Promise<boolean>;

  /** Creates or replaces the deployment of that id. */
  putDeployment(rec: DeploymentRecord): Promise<void>;
  /** Creates or replaces several deployments at once: all are written, or none (on any error). */
  putDeployments(recs: readonly DeploymentRecord[]): Promise<void>;
  /** The deployment of that id, or undefined. */
  getDeployment(id: string): Promise<DeploymentRecord | undefined>;
  /** The deployments that match every field of the filter (all without one), sorted by id. */
  listDeployments(filter?: DeploymentFilter): Promise<DeploymentRecord[]>;
  /** Deletes a deployment; true if it existed. */
  deleteDeployment(id: string): Promise<boolean>;

  /**
   * The next fencing epoch of a key (an account, or `layout/service`): 1 the first time, then one
   * more on each call, never repeated, not even across restarts. Durable before it resolves.
   */
  nextEpoch(key: string): Promise<bigint>;
  /** The last epoch `nextEpoch` gave for a key; 0n if it never gave one. */
  currentEpoch(key: string): Promise<bigint>;
  /**
   * Moves a key's sequence forward to at least `atLeast` (the next `nextEpoch` is above it), and
   * never back: the store found behind a gateway (a restored backup) jumps past the epochs the
   * gateway has seen at once. Returns the key's current epoch after the move. Durable before it
   * resolves.
   */
  advanceEpoch(key: string, atLeast: bigint): Promise<bigint>;

  /** Creates or replaces the catalogue entry of that id and version. */
  putDataset(spec: DatasetSpec): Promise<void>;
  /** The dataset catalogue, sorted by id then version. */
  listDatasets(): Promise<DatasetSpec[]>;
  /** Deletes one version of a dataset from the catalogue; true if it existed. */
  deleteDataset(id: string, version: string): Promise<boolean>;

  /** Marks a node as draining (true) or not (false), so a drain survives a restart. Idempotent. */
  setDraining(nodeId: string, draining: boolean): Promise<void>;
  /** The ids of the draining nodes, sorted. */
  listDraining(): Promise<string[]>;

  /**
   * Creates an API token. already_exists when its id is taken, or its name is taken by a token
   * that is not revoked (a revoked token's name may be given again).
   */
  putToken(rec: ApiTokenRecord): Promise<void>;
  /** The token of that id (revoked and expired ones too), or undefined. */
  getToken(id: string): Promise<ApiTokenRecord | undefined>;
  /** Every token, revoked and expired ones too, sorted by creation time then id. */
  listTokens(): Promise<ApiTokenRecord[]>;
  /** Marks a token revoked at `at`; false if there is no such token or it was revoked already. */
  revokeToken(id: string, at: string): Promise<boolean>;

  /**
   * Appends an entry to the audit trail and returns its sequence number; then deletes the oldest
   * entries of its class (anonymous, or made by a known token: auth-records.ts) beyond `keep`.
   */
  appendAudit(entry: AuditInput, keep: number): Promise<number>;
  /** A page of the audit trail, oldest first (see AuditQuery). */
  listAudit(query: AuditQuery): Promise<AuditEntry[]>;

  /** Releases the store (file handles, locks, connections). Idempotent. */
  close(): Promise<void>;
}
