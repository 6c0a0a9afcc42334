import { formatBytes } from "../core/units.ts";
import type { EvalContext } from "./eval-context.ts";
import { Reason, type ReasonCode } from "./reasons.ts";

/**
 * One feasibility rule: can node `i` take the request? Each checker owns exactly one reason, and
 * `explain` turns a refusal into words only when someone asks (never in the hot path).
 */
export interface FeasibilityChecker {
  readonly reason: ReasonCode;
  feasible(ctx: EvalContext, i: number): boolean;
  explain(ctx: EvalContext, i: number): string;
}

// Resources are compared with a little slack so that 0.1 + 0.2 cores fit in 0.3.
const EPS = 1e-9;

/** Default-deny partitioning, enforced from the node's side: the node's pool must be the request's. */
export const poolChecker: FeasibilityChecker = {
  reason: Reason.PoolMismatch,
  feasible: (ctx, i) => ctx.cluster.isLive[i] === (ctx.request.pool === "live" ? 1 : 0),
  explain: (ctx, i) =>
    `node is in the ${ctx.cluster.nodes[i]?.pool} pool; the service runs only in the ${ctx.request.pool} pool`,
};

/** The node carries every required tag (answered once per node class). */
export const requiredTagsChecker: FeasibilityChecker = {
  reason: Reason.MissingTag,
  feasible: (ctx, i) => ctx.cluster.index.hasTags(i, ctx.request.requiredTags, ctx.requiredSignature),
  explain: (ctx, i) => {
    const have = new Set(ctx.cluster.nodes[i]?.tags);
    return `missing tag(s) ${ctx.request.requiredTags.filter((t) => !have.has(t)).join(", ")}`;
  },
};

/** Only nodes whose lease is healthy take new work. */
export const readyChecker: FeasibilityChecker = {
  reason: Reason.NodeNotReady,
  feasible: (ctx, i) => ctx.cluster.stateCode[i] === 0,
  explain: (ctx, i) => `node is ${ctx.cluster.nodes[i]?.state}`,
};

/** A draining node keeps what it runs and takes nothing new. */
export const drainingChecker: FeasibilityChecker = {
  reason: Reason.NodeDraining,
  feasible: (ctx, i) => ctx.cluster.draining[i] === 0,
  explain: () => "node is draining",
};

/** A standby never shares a node with its active (or with another standby of the same service). */
export const antiAffinityChecker: FeasibilityChecker = {
  reason: Reason.StandbyAntiAffinity,
  feasible: (ctx, i) => ctx.avoid.length === 0 || !ctx.avoid.includes(i),
  explain: () => "the active instance or another standby of this service is on this node",
};

/** What is left of a resource on node `i`: its capacity less what is committed and what is in flight. */
function left(cap: ArrayLike<number>, used: ArrayLike<number>, inFlight: number, i: number): number {
  return (cap[i] ?? 0) - (used[i] ?? 0) - inFlight;
}

function freeCores(ctx: EvalContext, i: number): number {
  return left(ctx.cluster.capCores, ctx.cluster.usedCores, ctx.overlay.cores(i), i);
}

function freeMemory(ctx: EvalContext, i: number): number {
  return left(ctx.cluster.capMemory, ctx.cluster.usedMemory, ctx.overlay.memory(i), i);
}

function inFlight(amount: number, unit: (n: number) => string): string {
  return amount > EPS ? `, ${unit(amount)} of it reserved in flight` : "";
}

/** Free cores, counting placements the runner has not reported yet. */
export const coresChecker: FeasibilityChecker = {
  reason: Reason.InsufficientCores,
  feasible: (ctx, i) => freeCores(ctx, i) + EPS >= ctx.cores,
  explain: (ctx, i) => {
    const c = ctx.cluster;
    const used = (c.usedCores[i] ?? 0) + ctx.overlay.cores(i);
    return (
      `needs ${ctx.cores} core(s); ${round(freeCores(ctx, i))} free of ${c.capCores[i]} ` +
      `(${round(used)} committed${inFlight(c.inFlightCores[i] ?? 0, (n) => `${round(n)}`)})`
    );
  },
};

/** Whole cores that can still be pinned; only asked of requests that pin cores. */
export const exclusiveCoresChecker: FeasibilityChecker = {
  reason: Reason.InsufficientExclusiveCores,
  feasible: (ctx, i) => {
    const want = ctx.request.demand.exclusiveCores;
    return want === 0 || freeExclusiveCores(ctx, i) >= want;
  },
  explain: (ctx, i) =>
    `needs ${ctx.request.demand.exclusiveCores} pinned core(s); ${freeExclusiveCores(ctx, i)} of ${ctx.cluster.capExclusive[i]} pinnable free`,
};

/** Free memory, counting in-flight placements. */
export const memoryChecker: FeasibilityChecker = {
  reason: Reason.InsufficientMemory,
  feasible: (ctx, i) => freeMemory(ctx, i) + EPS >= ctx.request.demand.memoryBytes,
  explain: (ctx, i) => {
    const c = ctx.cluster;
    return (
      `needs ${formatBytes(ctx.request.demand.memoryBytes)}; ${formatBytes(Math.max(0, freeMemory(ctx, i)))} ` +
      `free of ${formatBytes(c.capMemory[i] ?? 0)}${inFlight(c.inFlightMemory[i] ?? 0, formatBytes)}`
    );
  },
};

/** Free ports in the node's range. */
export const portsChecker: FeasibilityChecker = {
  reason: Reason.InsufficientPorts,
  feasible: (ctx, i) => {
    const want = ctx.request.demand.ports;
    return want === 0 || freePorts(ctx, i) >= want;
  },
  explain: (ctx, i) =>
    `needs ${ctx.request.demand.ports} port(s); ${freePorts(ctx, i)} of ${ctx.cluster.capPorts[i]} free`,
};

function freeExclusiveCores(ctx: EvalContext, i: number): number {
  return left(ctx.cluster.capExclusive, ctx.cluster.usedExclusive, ctx.overlay.exclusive(i), i);
}

function freePorts(ctx: EvalContext, i: number): number {
  return left(ctx.cluster.capPorts, ctx.cluster.usedPorts, ctx.overlay.ports(i), i);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
