import { hashString, mix32 } from "../core/seeded-random.ts";
import type { Layout } from "../domain/index.ts";
import type { ClusterState } from "./cluster-state.ts";
import { Overlay } from "./eval-context.ts";
import { coresTaken, requestFromManifest, type Demand, type PlacementRequest } from "./request.ts";
import type { CompiledSchedulerOptions } from "./scheduler-options.ts";
import { schedule, type Decision } from "./stack.ts";

/** One service of a layout to place: its active instance's request and how many standbys. */
export interface ServiceToPlace {
  readonly service: string;
  readonly request: PlacementRequest;
  readonly standby: number;
}

/** Where one instance goes. */
export interface InstancePlacement {
  readonly service: string;
  readonly role: "active" | "standby";
  /** 0 for the active, 0..standby-1 for standbys. */
  readonly replica: number;
  readonly nodeId: string;
  readonly node: number;
  readonly demand: Demand;
}

/** All of a layout placed, or nothing, with the reason of the first instance that did not fit. */
export type LayoutDecision =
  | { readonly ok: true; readonly placements: readonly InstancePlacement[] }
  | {
      readonly ok: false;
      readonly service: string;
      readonly role: "active" | "standby";
      readonly replica: number;
      readonly refusal: Extract<Decision, { ok: false }>;
      /** "momentum (standby 0): 3 nodes: not enough exclusive cores; ..." */
      readonly message: string;
    };

/** The services of a validated layout as placement requests. */
export function servicesToPlace(layout: Layout): ServiceToPlace[] {
  return layout.services.map((m) => ({
    service: m.name,
    request: requestFromManifest(m, { catalogue: layout.datasets, key: `${layout.name}/${m.name}` }),
    standby: m.standby,
  }));
}

/**
 * Places every instance of a layout, all or nothing: each placement is tentative (an overlay on
 * the cluster state) until the last one fits; if any does not, nothing is placed and the refusal
 * names the instance that did not fit. Pure: the caller commits the placements it gets.
 *
 * Order: the hardest instances first (pinned cores, then cores, then memory, as first-fit
 * decreasing does), so that a big strategy is not left without room by small feeders; each
 * active is followed by its standbys, which avoid its node and each other's.
 */
export function placeLayout(
  cluster: ClusterState,
  services: readonly ServiceToPlace[],
  opts: { seed: number; options?: CompiledSchedulerOptions },
): LayoutDecision {
  const overlay = new Overlay();
  const placements: InstancePlacement[] = [];
  const ordered = [...services].sort(
    (a, b) =>
      b.request.demand.exclusiveCores - a.request.demand.exclusiveCores ||
      coresTaken(b.request.demand) - coresTaken(a.request.demand) ||
      b.request.demand.memoryBytes - a.request.demand.memoryBytes ||
      a.service.localeCompare(b.service),
  );
  for (const item of ordered) {
    const taken: number[] = [];
    for (let replica = -1; replica < item.standby; replica++) {
      const role = replica < 0 ? "active" : "standby";
      const r = Math.max(0, replica);
      const request: PlacementRequest =
        role === "active" ? item.request : { ...item.request, key: `${item.request.key}#standby-${r}` };
      const seed = mix32(opts.seed >>> 0, hashString(`${item.service}/${role}/${r}`));
      const decision = schedule(cluster, request, { seed, overlay, avoid: taken, options: opts.options });
      if (!decision.ok) {
        const who = role === "active" ? item.service : `${item.service} (standby ${r})`;
        return {
          ok: false,
          service: item.service,
          role,
          replica: r,
          refusal: decision,
          message: `${who}: ${decision.message}`,
        };
      }
      overlay.add(decision.node, request.demand);
      taken.push(decision.node);
      placements.push({
        service: item.service,
        role,
        replica: r,
        nodeId: decision.nodeId,
        node: decision.node,
        demand: request.demand,
      });
    }
  }
  return { ok: true, placements };
}
