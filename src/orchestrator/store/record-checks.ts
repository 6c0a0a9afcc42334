/**
 * The checks every store makes before it writes, so that a record one implementation refuses every
 * implementation refuses, and the canonical copies they write: optional fields that are undefined
 * are left out and the layout's spec goes through JSON, so what a store reads back is exactly what
 * a JSON- or row-based store would (the memory store must not be kinder than SQLite or etcd).
 */
import type { DatasetSpec } from "../../domain/index.ts";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import {
  DEPLOYMENT_ROLES,
  DESIRED_STATES,
  LAYOUT_STATES,
  type DeploymentFilter,
  type DeploymentRecord,
  type LastExit,
  type LayoutRecord,
} from "./store-records.ts";

function invalid(where: string, field: string, value: unknown, expected: string): HiveError {
  const shown = typeof value === "bigint" ? `${value}n` : (JSON.stringify(value) ?? String(value));
  return new HiveError(
    ErrorCode.InvalidArgument,
    `${where}: field "${field}" is ${shown}, expected ${expected}`,
  );
}

/** Checks that a key (a name, an id, an epoch key) is a non-empty string; returns it. */
export function checkKey(where: string, field: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0)
    throw invalid(where, field, value, "a non-empty string");
  return value;
}

/** Checks that an epoch is a bigint >= 0n; returns it. */
export function checkEpoch(where: string, value: unknown): bigint {
  if (typeof value !== "bigint" || value < 0n) throw invalid(where, "epoch", value, "a bigint >= 0n");
  return value;
}

function checkCount(where: string, field: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalid(where, field, value, `an integer >= ${min}`);
  }
  return value;
}

function checkTime(where: string, field: string, value: unknown): string {
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) {
    throw invalid(where, field, value, "an ISO 8601 time such as 2025-01-31T12:00:00.000Z");
  }
  return value;
}

function checkOneOf<T extends string>(
  where: string,
  field: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) throw invalid(where, field, value, `one of ${allowed.join(", ")}`);
  return value as T;
}

/**
 * Checks a deployment filter: each field given is a non-empty string. A null nodeId (a pending
 * deployment's) is refused rather than read as "no filter" by one store and "unplaced" by another.
 */
export function checkFilter(filter: DeploymentFilter): void {
  for (const [field, value] of Object.entries(filter)) {
    if (value !== undefined) checkKey("listDeployments filter", field, value);
  }
}

/** Checks a layout record and returns the canonical copy to write (its spec deep-copied through JSON). */
export function checkLayoutRecord(rec: LayoutRecord): LayoutRecord {
  const where = `layout ${JSON.stringify(rec.name)}`;
  let spec: unknown;
  try {
    const text = JSON.stringify(rec.spec);
    if (text === undefined) throw new HiveError(ErrorCode.InvalidArgument, "JSON.stringify gave nothing");
    spec = JSON.parse(text);
  } catch (err) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${where}: field "spec" cannot be stored as JSON (${(err as Error).message}), expected the validated layout as plain JSON`,
      { cause: err },
    );
  }
  if (typeof rec.source !== "string") throw invalid(where, "source", rec.source, "the YAML text as applied");
  return {
    name: checkKey(where, "name", rec.name),
    source: rec.source,
    spec,
    generation: checkCount(where, "generation", rec.generation, 1),
    appliedAt: checkTime(where, "appliedAt", rec.appliedAt),
    state: checkOneOf(where, "state", rec.state, LAYOUT_STATES),
  };
}

function checkLastExit(where: string, exit: LastExit): LastExit {
  if (exit.code !== null && (typeof exit.code !== "number" || !Number.isInteger(exit.code))) {
    throw invalid(where, "lastExit.code", exit.code, "an integer exit code or null");
  }
  if (exit.signal !== null && typeof exit.signal !== "string") {
    throw invalid(where, "lastExit.signal", exit.signal, "a signal name or null");
  }
  if (typeof exit.reason !== "string") throw invalid(where, "lastExit.reason", exit.reason, "a string");
  return {
    code: exit.code,
    signal: exit.signal,
    reason: exit.reason,
    at: checkTime(where, "lastExit.at", exit.at),
  };
}

function checkAddresses(where: string, addresses: Readonly<Record<string, string>>): Record<string, string> {
  if (typeof addresses !== "object" || addresses === null || Array.isArray(addresses)) {
    throw invalid(where, "addresses", addresses, "an object of socket name to address");
  }
  const copy: Record<string, string> = {};
  for (const [name, address] of Object.entries(addresses)) {
    if (typeof address !== "string") throw invalid(where, `addresses.${name}`, address, "an address string");
    copy[name] = address;
  }
  return copy;
}

/** Checks a deployment record and returns the canonical copy to write. */
export function checkDeploymentRecord(rec: DeploymentRecord): DeploymentRecord {
  const where = `deployment ${JSON.stringify(rec.id)}`;
  if (typeof rec.epoch !== "bigint" || rec.epoch < 0n) {
    throw invalid(where, "epoch", rec.epoch, "a bigint >= 0n (0n for a deployment that does not trade)");
  }
  if (rec.nodeId !== null) checkKey(where, "nodeId", rec.nodeId);
  if (rec.pendingReason !== undefined && typeof rec.pendingReason !== "string") {
    throw invalid(where, "pendingReason", rec.pendingReason, "a string");
  }
  return {
    id: checkKey(where, "id", rec.id),
    layout: checkKey(where, "layout", rec.layout),
    service: checkKey(where, "service", rec.service),
    role: checkOneOf(where, "role", rec.role, DEPLOYMENT_ROLES),
    replica: checkCount(where, "replica", rec.replica, 0),
    generation: checkCount(where, "generation", rec.generation, 1),
    nodeId: rec.nodeId,
    epoch: rec.epoch,
    desired: checkOneOf(where, "desired", rec.desired, DESIRED_STATES),
    restarts: checkCount(where, "restarts", rec.restarts, 0),
    createdAt: checkTime(where, "createdAt", rec.createdAt),
    ...(rec.lastExit !== undefined ? { lastExit: checkLastExit(where, rec.lastExit) } : {}),
    ...(rec.pendingReason !== undefined ? { pendingReason: rec.pendingReason } : {}),
    ...(rec.addresses !== undefined ? { addresses: checkAddresses(where, rec.addresses) } : {}),
  };
}

/** Checks a dataset catalogue entry and returns the canonical copy to write. */
export function checkDatasetSpec(spec: DatasetSpec): DatasetSpec {
  const where = `dataset ${JSON.stringify(spec.id)}`;
  if (typeof spec.source !== "string") throw invalid(where, "source", spec.source, "a path");
  return {
    id: checkKey(where, "id", spec.id),
    version: checkKey(where, "version", spec.version),
    source: spec.source,
    size: checkCount(where, "size", spec.size, 0),
  };
}
