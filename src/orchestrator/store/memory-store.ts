/**
 * The fake store: maps in memory, for tests of the orchestrator's logic and for `--store memory:`.
 * It makes the same checks and the same copies as the real stores (record-checks.ts), and passes
 * the same contract suite (store-contract.ts), so a test that passes on it means the same on SQLite.
 */
import { randomUUID } from "node:crypto";
import type { DatasetSpec } from "../../domain/index.ts";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import {
  checkDatasetSpec,
  checkDeploymentRecord,
  checkEpoch,
  checkFilter,
  checkKey,
  checkLayoutRecord,
} from "./record-checks.ts";
import {
  checkAuditInput,
  checkAuditQuery,
  checkKeep,
  checkTokenRecord,
  isAnonymous,
  type ApiTokenRecord,
  type AuditEntry,
  type AuditInput,
  type AuditQuery,
} from "./auth-records.ts";
import type { Store } from "./store.ts";
import type { DeploymentFilter, DeploymentRecord, LayoutRecord } from "./store-records.ts";

/** SQLite's order (BINARY, on UTF-8 bytes), which differs from JS's UTF-16 order past U+FFFF. */
function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function byKey<T>(map: ReadonlyMap<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => compare(a, b)).map(([, value]) => value);
}

/** A Store held in memory; nothing survives the process. */
export class MemoryStore implements Store {
  /** Always "memory". */
  readonly kind = "memory" as const;
  /** Made with the store: a memory store is a cluster of its own, which no restart keeps. */
  readonly #clusterId = randomUUID();
  readonly #layouts = new Map<string, LayoutRecord>();
  readonly #deployments = new Map<string, DeploymentRecord>();
  readonly #epochs = new Map<string, bigint>();
  // Keyed by JSON.stringify([id, version]): an unambiguous pair, whatever characters they hold.
  readonly #datasets = new Map<string, DatasetSpec>();
  readonly #draining = new Set<string>();
  readonly #tokens = new Map<string, ApiTokenRecord>();
  /** The audit trail in sequence order (appends only at the end; trims take the oldest of a class). */
  #audit: AuditEntry[] = [];
  #auditSeq = 0;
  #closed = false;

  /** Runs one operation: rejects once closed, and turns a throw into a rejection like the real stores. */
  #run<T>(action: string, fn: () => T): Promise<T> {
    try {
      if (this.#closed) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `memory store: ${action} after close(), expected a store that is still open`,
        );
      }
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(HiveError.from(err));
    }
  }

  /** The cluster id, made with the store. */
  clusterId(): Promise<string> {
    return this.#run("clusterId", () => this.#clusterId);
  }

  /** Creates or replaces a layout. */
  putLayout(rec: LayoutRecord): Promise<void> {
    return this.#run("putLayout", () => {
      const copy = checkLayoutRecord(rec);
      this.#layouts.set(copy.name, copy);
    });
  }

  /** The layout of that name, or undefined. */
  getLayout(name: string): Promise<LayoutRecord | undefined> {
    return this.#run("getLayout", () => structuredClone(this.#layouts.get(name)));
  }

  /** Every layout, sorted by name. */
  listLayouts(): Promise<LayoutRecord[]> {
    return this.#run("listLayouts", () => structuredClone(byKey(this.#layouts)));
  }

  /** Deletes a layout; true if it existed. */
  deleteLayout(name: string): Promise<boolean> {
    return this.#run("deleteLayout", () => this.#layouts.delete(name));
  }

  /** Creates or replaces a deployment. */
  putDeployment(rec: DeploymentRecord): Promise<void> {
    return this.#run("putDeployment", () => {
      const copy = checkDeploymentRecord(rec);
      this.#deployments.set(copy.id, copy);
    });
  }

  /** Creates or replaces several deployments: every record is checked before any is written. */
  putDeployments(recs: readonly DeploymentRecord[]): Promise<void> {
    return this.#run("putDeployments", () => {
      const copies = recs.map(checkDeploymentRecord);
      for (const copy of copies) this.#deployments.set(copy.id, copy);
    });
  }

  /** The deployment of that id, or undefined. */
  getDeployment(id: string): Promise<DeploymentRecord | undefined> {
    return this.#run("getDeployment", () => structuredClone(this.#deployments.get(id)));
  }

  /** The deployments matching the filter, sorted by id. */
  listDeployments(filter: DeploymentFilter = {}): Promise<DeploymentRecord[]> {
    return this.#run("listDeployments", () => {
      checkFilter(filter);
      return structuredClone(
        byKey(this.#deployments).filter(
          (d) =>
            (filter.layout === undefined || d.layout === filter.layout) &&
            (filter.nodeId === undefined || d.nodeId === filter.nodeId),
        ),
      );
    });
  }

  /** Deletes a deployment; true if it existed. */
  deleteDeployment(id: string): Promise<boolean> {
    return this.#run("deleteDeployment", () => this.#deployments.delete(id));
  }

  /** The next epoch of a key. The increment is synchronous, so concurrent calls never share one. */
  nextEpoch(key: string): Promise<bigint> {
    return this.#run("nextEpoch", () => {
      checkKey("nextEpoch", "key", key);
      const next = (this.#epochs.get(key) ?? 0n) + 1n;
      this.#epochs.set(key, next);
      return next;
    });
  }

  /** The last epoch given for a key; 0n if none. */
  currentEpoch(key: string): Promise<bigint> {
    return this.#run("currentEpoch", () => this.#epochs.get(key) ?? 0n);
  }

  /** Moves a key's sequence to at least `atLeast`, never back; the current epoch after. */
  advanceEpoch(key: string, atLeast: bigint): Promise<bigint> {
    return this.#run("advanceEpoch", () => {
      checkKey("advanceEpoch", "key", key);
      checkEpoch("advanceEpoch", atLeast);
      const current = this.#epochs.get(key) ?? 0n;
      if (atLeast > current) this.#epochs.set(key, atLeast);
      return atLeast > current ? atLeast : current;
    });
  }

  /** Creates or replaces a catalogue entry. */
  putDataset(spec: DatasetSpec): Promise<void> {
    return this.#run("putDataset", () => {
      const copy = checkDatasetSpec(spec);
      this.#datasets.set(JSON.stringify([copy.id, copy.version]), copy);
    });
  }

  /** The catalogue, sorted by id then version. */
  listDatasets(): Promise<DatasetSpec[]> {
    return this.#run("listDatasets", () =>
      structuredClone(
        [...this.#datasets.values()].sort((a, b) => compare(a.id, b.id) || compare(a.version, b.version)),
      ),
    );
  }

  /** Deletes one version of a dataset; true if it existed. */
  deleteDataset(id: string, version: string): Promise<boolean> {
    return this.#run("deleteDataset", () => this.#datasets.delete(JSON.stringify([id, version])));
  }

  /** Marks a node as draining or not. */
  setDraining(nodeId: string, draining: boolean): Promise<void> {
    return this.#run("setDraining", () => {
      checkKey("setDraining", "nodeId", nodeId);
      if (draining) this.#draining.add(nodeId);
      else this.#draining.delete(nodeId);
    });
  }

  /** The draining nodes, sorted. */
  listDraining(): Promise<string[]> {
    return this.#run("listDraining", () => [...this.#draining].sort());
  }

  /** Creates a token; already_exists on a taken id, or a name taken by a token not revoked. */
  putToken(rec: ApiTokenRecord): Promise<void> {
    return this.#run("putToken", () => {
      const copy = checkTokenRecord(rec);
      if (this.#tokens.has(copy.id)) {
        throw new HiveError(ErrorCode.AlreadyExists, `a token with id ${JSON.stringify(copy.id)} exists`);
      }
      const clash = [...this.#tokens.values()].find((t) => t.name === copy.name && t.revokedAt === undefined);
      if (copy.revokedAt === undefined && clash !== undefined) {
        throw new HiveError(
          ErrorCode.AlreadyExists,
          `a token named ${JSON.stringify(copy.name)} exists (id ${clash.id}); revoke it first, or choose another name`,
        );
      }
      this.#tokens.set(copy.id, copy);
    });
  }

  /** The token of that id, or undefined. */
  getToken(id: string): Promise<ApiTokenRecord | undefined> {
    return this.#run("getToken", () => structuredClone(this.#tokens.get(id)));
  }

  /** Every token, by creation time then id. */
  listTokens(): Promise<ApiTokenRecord[]> {
    return this.#run("listTokens", () =>
      structuredClone(
        [...this.#tokens.values()].sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.id, b.id)),
      ),
    );
  }

  /** Marks a token revoked; false if unknown or revoked already. */
  revokeToken(id: string, at: string): Promise<boolean> {
    return this.#run("revokeToken", () => {
      const token = this.#tokens.get(id);
      if (Number.isNaN(Date.parse(at))) {
        throw new HiveError(
          ErrorCode.InvalidArgument,
          `revokeToken: "at" is ${JSON.stringify(at)}, expected an ISO 8601 time`,
        );
      }
      if (token === undefined || token.revokedAt !== undefined) return false;
      this.#tokens.set(id, checkTokenRecord({ ...token, revokedAt: at }));
      return true;
    });
  }

  /** Appends to the audit trail, then trims the entry's class to `keep`. */
  appendAudit(entry: AuditInput, keep: number): Promise<number> {
    return this.#run("appendAudit", () => {
      const copy = checkAuditInput(entry);
      checkKeep(keep);
      const seq = ++this.#auditSeq;
      this.#audit.push({ seq, ...copy });
      const anonymous = isAnonymous(copy);
      let excess = this.#audit.filter((e) => isAnonymous(e) === anonymous).length - keep;
      if (excess > 0) {
        this.#audit = this.#audit.filter((e) => isAnonymous(e) !== anonymous || excess-- <= 0);
      }
      return seq;
    });
  }

  /** A page of the audit trail, oldest first. */
  listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    return this.#run("listAudit", () => {
      const q = checkAuditQuery(query);
      if (q.after === undefined && q.since === undefined) return structuredClone(this.#audit.slice(-q.limit));
      const after = q.after ?? 0;
      const since = q.since ?? "";
      return structuredClone(this.#audit.filter((e) => e.seq > after && e.at >= since).slice(0, q.limit));
    });
  }

  /** Forgets nothing (there is nothing to release) but refuses every later call. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
