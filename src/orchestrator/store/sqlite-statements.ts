/**
 * The SQL of the SQLite store, prepared once per connection, and the mapping between its rows and
 * the store's records. Records arrive here already checked (record-checks.ts); rows are trusted as
 * far as the schema's STRICT types and CHECK constraints go. Optional fields stored as NULL are left
 * out of the record (not set to undefined), so records read back compare equal to what was put.
 */
import type BetterSqlite3 from "better-sqlite3";
import type { DatasetSpec } from "../../domain/index.ts";
import type {
  DeploymentFilter,
  DeploymentRecord,
  DeploymentRole,
  DesiredState,
  LastExit,
  LayoutRecord,
  LayoutState,
} from "./store-records.ts";

interface LayoutRow {
  name: string;
  source: string;
  spec: string;
  generation: number;
  applied_at: string;
  state: LayoutState;
}

interface DeploymentRow {
  id: string;
  layout: string;
  service: string;
  role: DeploymentRole;
  replica: number;
  generation: number;
  node_id: string | null;
  epoch: string;
  desired: DesiredState;
  restarts: number;
  created_at: string;
  last_exit: string | null;
  pending_reason: string | null;
  addresses: string | null;
}

function toLayout(row: LayoutRow): LayoutRecord {
  return {
    name: row.name,
    source: row.source,
    spec: JSON.parse(row.spec),
    generation: row.generation,
    appliedAt: row.applied_at,
    state: row.state,
  };
}

function toDeployment(row: DeploymentRow): DeploymentRecord {
  return {
    id: row.id,
    layout: row.layout,
    service: row.service,
    role: row.role,
    replica: row.replica,
    generation: row.generation,
    nodeId: row.node_id,
    epoch: BigInt(row.epoch),
    desired: row.desired,
    restarts: row.restarts,
    createdAt: row.created_at,
    ...(row.last_exit !== null ? { lastExit: JSON.parse(row.last_exit) as LastExit } : {}),
    ...(row.pending_reason !== null ? { pendingReason: row.pending_reason } : {}),
    ...(row.addresses !== null ? { addresses: JSON.parse(row.addresses) as Record<string, string> } : {}),
  };
}

function deploymentRow(rec: DeploymentRecord): DeploymentRow {
  return {
    id: rec.id,
    layout: rec.layout,
    service: rec.service,
    role: rec.role,
    replica: rec.replica,
    generation: rec.generation,
    node_id: rec.nodeId,
    epoch: rec.epoch.toString(),
    desired: rec.desired,
    restarts: rec.restarts,
    created_at: rec.createdAt,
    last_exit: rec.lastExit !== undefined ? JSON.stringify(rec.lastExit) : null,
    pending_reason: rec.pendingReason ?? null,
    addresses: rec.addresses !== undefined ? JSON.stringify(rec.addresses) : null,
  };
}

/** The prepared statements of one connection, with records in and records out. */
export class SqliteStatements {
  readonly #putLayout;
  readonly #getLayout;
  readonly #listLayouts;
  readonly #deleteLayout;
  readonly #putDeployment;
  readonly #getDeployment;
  readonly #listDeployments;
  readonly #deleteDeployment;
  readonly #getEpoch;
  readonly #setEpoch;
  readonly #clusterId;
  readonly #putDataset;
  readonly #listDatasets;
  readonly #deleteDataset;
  readonly #addDraining;
  readonly #removeDraining;
  readonly #listDraining;

  constructor(db: BetterSqlite3.Database) {
    this.#putLayout = db.prepare<[LayoutRow]>(
      `INSERT OR REPLACE INTO layouts (name, source, spec, generation, applied_at, state)
       VALUES (@name, @source, @spec, @generation, @applied_at, @state)`,
    );
    this.#getLayout = db.prepare<[string], LayoutRow>("SELECT * FROM layouts WHERE name = ?");
    this.#listLayouts = db.prepare<[], LayoutRow>("SELECT * FROM layouts ORDER BY name");
    this.#deleteLayout = db.prepare<[string]>("DELETE FROM layouts WHERE name = ?");
    this.#putDeployment = db.prepare<[DeploymentRow]>(
      `INSERT OR REPLACE INTO deployments (id, layout, service, role, replica, generation, node_id, epoch,
         desired, restarts, created_at, last_exit, pending_reason, addresses)
       VALUES (@id, @layout, @service, @role, @replica, @generation, @node_id, @epoch,
         @desired, @restarts, @created_at, @last_exit, @pending_reason, @addresses)`,
    );
    this.#getDeployment = db.prepare<[string], DeploymentRow>("SELECT * FROM deployments WHERE id = ?");
    // A NULL parameter matches everything: one statement serves every combination of the filter.
    this.#listDeployments = db.prepare<[{ layout: string | null; node: string | null }], DeploymentRow>(
      `SELECT * FROM deployments
       WHERE (@layout IS NULL OR layout = @layout) AND (@node IS NULL OR node_id = @node)
       ORDER BY id`,
    );
    this.#deleteDeployment = db.prepare<[string]>("DELETE FROM deployments WHERE id = ?");
    this.#getEpoch = db.prepare<[string], { value: string }>("SELECT value FROM epochs WHERE key = ?");
    this.#setEpoch = db.prepare<[string, string]>("INSERT OR REPLACE INTO epochs (key, value) VALUES (?, ?)");
    this.#clusterId = db.prepare<[], { cluster_id: string }>("SELECT cluster_id FROM cluster WHERE id = 1");
    this.#putDataset = db.prepare<[DatasetSpec]>(
      "INSERT OR REPLACE INTO datasets (id, version, source, size) VALUES (@id, @version, @source, @size)",
    );
    this.#listDatasets = db.prepare<[], DatasetSpec>(
      "SELECT id, version, source, size FROM datasets ORDER BY id, version",
    );
    this.#deleteDataset = db.prepare<[string, string]>("DELETE FROM datasets WHERE id = ? AND version = ?");
    this.#addDraining = db.prepare<[string]>("INSERT OR IGNORE INTO draining_nodes (node_id) VALUES (?)");
    this.#removeDraining = db.prepare<[string]>("DELETE FROM draining_nodes WHERE node_id = ?");
    this.#listDraining = db.prepare<[], { node_id: string }>(
      "SELECT node_id FROM draining_nodes ORDER BY node_id",
    );
  }

  /** Creates or replaces a layout. */
  putLayout(rec: LayoutRecord): void {
    this.#putLayout.run({
      name: rec.name,
      source: rec.source,
      spec: JSON.stringify(rec.spec),
      generation: rec.generation,
      applied_at: rec.appliedAt,
      state: rec.state,
    });
  }

  /** The layout of that name, or undefined. */
  getLayout(name: string): LayoutRecord | undefined {
    const row = this.#getLayout.get(name);
    return row && toLayout(row);
  }

  /** Every layout, sorted by name. */
  listLayouts(): LayoutRecord[] {
    return this.#listLayouts.all().map(toLayout);
  }

  /** Deletes a layout; true if it existed. */
  deleteLayout(name: string): boolean {
    return this.#deleteLayout.run(name).changes > 0;
  }

  /** Creates or replaces a deployment. */
  putDeployment(rec: DeploymentRecord): void {
    this.#putDeployment.run(deploymentRow(rec));
  }

  /** The deployment of that id, or undefined. */
  getDeployment(id: string): DeploymentRecord | undefined {
    const row = this.#getDeployment.get(id);
    return row && toDeployment(row);
  }

  /** The deployments matching the filter, sorted by id. */
  listDeployments(filter: DeploymentFilter): DeploymentRecord[] {
    return this.#listDeployments
      .all({ layout: filter.layout ?? null, node: filter.nodeId ?? null })
      .map(toDeployment);
  }

  /** Deletes a deployment; true if it existed. */
  deleteDeployment(id: string): boolean {
    return this.#deleteDeployment.run(id).changes > 0;
  }

  /** The last epoch of a key; 0n if none. */
  currentEpoch(key: string): bigint {
    const row = this.#getEpoch.get(key);
    return row ? BigInt(row.value) : 0n;
  }

  /** The cluster id, made by the schema's migration 3. */
  clusterId(): string {
    const row = this.#clusterId.get();
    if (row === undefined) throw new Error("the cluster table has no row (a file changed by hand?)");
    return row.cluster_id;
  }

  /** Sets the last epoch of a key (the caller holds the transaction that read the previous one). */
  setEpoch(key: string, value: bigint): void {
    this.#setEpoch.run(key, value.toString());
  }

  /** Creates or replaces a catalogue entry. */
  putDataset(spec: DatasetSpec): void {
    this.#putDataset.run(spec);
  }

  /** The catalogue, sorted by id then version. */
  listDatasets(): DatasetSpec[] {
    return this.#listDatasets.all();
  }

  /** Deletes one version of a dataset; true if it existed. */
  deleteDataset(id: string, version: string): boolean {
    return this.#deleteDataset.run(id, version).changes > 0;
  }

  /** Marks a node as draining or not. */
  setDraining(nodeId: string, draining: boolean): void {
    if (draining) this.#addDraining.run(nodeId);
    else this.#removeDraining.run(nodeId);
  }

  /** The draining nodes, sorted. */
  listDraining(): string[] {
    return this.#listDraining.all().map((row) => row.node_id);
  }
}
