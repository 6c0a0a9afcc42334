/**
 * An applied layout as the orchestrator holds it in memory, the lookups the API's operations
 * share (a layout by name, a service of it: NotFound naming what there is), and what changed
 * between two generations of a layout, service by service.
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Layout, ServiceManifest } from "../domain/index.ts";
import type { Route } from "../layout/index.ts";
import type { LayoutRecord } from "./store/store-records.ts";

/** A route push on its way to one runner. */
export interface RoutePush {
  /** Resolves when the push ends, acknowledged or not. */
  readonly done: Promise<void>;
}

/** An applied layout: its durable record, the layout parsed from its source, the routes pushed. */
export interface LayoutEntry {
  rec: LayoutRecord;
  layout: Layout;
  /** Per node, the routes each runner has acknowledged. */
  pushed: Map<string, readonly Route[]>;
  /** Per node, the route push still out (route-sync.ts): at most one at a time; `done` settles with it. */
  pushing: Map<string, RoutePush>;
}

/** The entry of a layout just loaded or applied; a new generation keeps what its runners acknowledged. */
export function newLayoutEntry(rec: LayoutRecord, layout: Layout, previous?: LayoutEntry): LayoutEntry {
  return {
    rec,
    layout,
    pushed: previous?.pushed ?? new Map<string, readonly Route[]>(),
    pushing: previous?.pushing ?? new Map<string, RoutePush>(),
  };
}

/** The applied layout `name`; NotFound, naming the applied ones, if there is none. */
export function findLayout(layouts: ReadonlyMap<string, LayoutEntry>, name: string): LayoutEntry {
  const entry = layouts.get(name);
  if (!entry) {
    const known = [...layouts.keys()].sort().join(", ") || "none";
    throw new HiveError(ErrorCode.NotFound, `no layout ${name} (applied: ${known})`);
  }
  return entry;
}

/** The manifest of `service` in an applied layout; NotFound, naming its services, if it has none. */
export function findService(entry: LayoutEntry, service: string): ServiceManifest {
  const manifest = entry.layout.services.find((s) => s.name === service);
  if (!manifest) {
    const names = entry.layout.services.map((s) => s.name).join(", ");
    throw new HiveError(
      ErrorCode.NotFound,
      `no service ${service} in layout ${entry.rec.name} (it has: ${names})`,
    );
  }
  return manifest;
}

/** The services of a layout by what an apply does to them, by name. */
export interface ServiceChanges {
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
  readonly unchanged: string[];
}

/** Compares the services of a layout with those of its previous generation (none: all added). */
export function serviceChanges(previous: Layout | undefined, layout: Layout): ServiceChanges {
  const before = new Map((previous?.services ?? []).map((s) => [s.name, JSON.stringify(s)]));
  const added: string[] = [];
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const s of layout.services) {
    const old = before.get(s.name);
    if (old === undefined) added.push(s.name);
    else if (old !== JSON.stringify(s)) changed.push(s.name);
    else unchanged.push(s.name);
  }
  const removed = [...before.keys()].filter((name) => !layout.services.some((s) => s.name === name));
  return { added, changed, removed, unchanged };
}
