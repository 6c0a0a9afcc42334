/**
 * Changes to the desired state from the API: applying a layout and stopping one. They only write
 * what is wanted (in memory and in the store); reconcile passes drive the deployments there. The
 * orchestrator runs them one at a time (each reads and writes the same desired state).
 */
import type { Layout } from "../domain/index.ts";
import type { ApplyResult } from "./control-plane.ts";
import type { Deployment } from "./deployment.ts";
import { findLayout, newLayoutEntry, serviceChanges, type LayoutEntry } from "./layout-entry.ts";
import { newDeployments, type PlacementSource } from "./placement.ts";
import type { DeploymentRecord, LayoutRecord } from "./store/store-records.ts";
import type { Store } from "./store/store.ts";

/** The desired state an apply or stop changes (its maps writable), and what it needs around it. */
export interface LayoutApplyContext extends PlacementSource {
  readonly layouts: Map<string, LayoutEntry>;
  readonly deployments: Map<string, Deployment>;
  readonly store: Store;
  /** Asks for a reconcile pass soon. */
  kick(): void;
}

/**
 * Applies a validated layout to the desired state: a new generation; the instances of changed and
 * removed services wanted stopped, new ones for added and changed services (placed all or nothing,
 * placement.ts); unchanged ones keep running on the new manifest. Written to the store before it
 * resolves; the next pass does the rest.
 */
export async function applyLayout(
  s: LayoutApplyContext,
  layout: Layout,
  source: string,
): Promise<ApplyResult> {
  const previous = s.layouts.get(layout.name);
  const { added, changed, removed, unchanged } = serviceChanges(previous?.layout, layout);
  const generation = (previous?.rec.generation ?? 0) + 1;
  const rec: LayoutRecord = {
    name: layout.name,
    source,
    spec: layout,
    generation,
    appliedAt: new Date().toISOString(),
    state: "active",
  };
  // Old instances of changed and removed services are stopped; unchanged ones keep running.
  const retire = new Set([...changed, ...removed]);
  const writes: DeploymentRecord[] = [];
  for (const d of s.deployments.values()) {
    if (d.rec.layout === layout.name && retire.has(d.rec.service) && d.rec.desired === "running") {
      d.rec = { ...d.rec, desired: "stopped" };
      writes.push(d.rec);
    }
  }
  // Unchanged instances follow the new manifest objects.
  for (const d of s.deployments.values()) {
    if (d.rec.layout !== layout.name) continue;
    const m = layout.services.find((s) => s.name === d.rec.service);
    if (m && unchanged.includes(m.name)) d.manifest = m;
  }
  const fresh = newDeployments(layout, [...added, ...changed], generation, s.clusterState(), s.seed);
  for (const d of fresh) s.deployments.set(d.rec.id, d);
  writes.push(...fresh.map((d) => d.rec));
  const entry = newLayoutEntry(rec, layout, previous);
  s.layouts.set(layout.name, entry);
  await s.store.putLayout(rec);
  await s.store.putDeployments(writes);
  s.log.info({ layout: layout.name, generation, added, changed, removed }, "layout applied");
  s.kick();
  return { layout: layout.name, generation, added, changed, removed, unchanged };
}

/** Marks a layout stopping and every instance of it wanted stopped; the passes stop them, then drop it. */
export async function stopLayout(s: LayoutApplyContext, name: string): Promise<void> {
  const entry = findLayout(s.layouts, name);
  entry.rec = { ...entry.rec, state: "stopping" };
  await s.store.putLayout(entry.rec);
  const writes: DeploymentRecord[] = [];
  for (const d of s.deployments.values()) {
    if (d.rec.layout === name && d.rec.desired !== "stopped") {
      d.rec = { ...d.rec, desired: "stopped" };
      writes.push(d.rec);
    }
  }
  await s.store.putDeployments(writes);
  s.kick();
}
