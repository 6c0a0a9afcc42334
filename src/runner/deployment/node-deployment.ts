/**
 * One deployment on this node and everything it was given, and how the protocol sees it. The
 * orchestrator has its own `Deployment` (desired state, placement); this is the runner's side.
 */
import type { SocketPattern } from "../../domain/index.ts";
import type { ProcessStatus, SpawnRequest } from "../../protocol/index.ts";
import type { Cgroup } from "../cgroups/index.ts";
import { toProtoProcessState } from "../link/proto-convert.ts";
import type { ExitStatus, ManagedProcess } from "../process/index.ts";
import type { RunAs } from "../uids/index.ts";

/** One deployment on this runner and everything it was given. */
export interface NodeDeployment {
  readonly request: SpawnRequest;
  /** The uid and gid its process runs under; undefined: the runner's own (the runner is not root). */
  readonly runAs?: RunAs;
  process?: ManagedProcess;
  cgroup?: Cgroup;
  ports: number[];
  cpus: number[];
  addresses: { socketName: string; address: string }[];
  /** Datasets acquired (pinned in RAM) while the process runs. */
  datasets: { id: string; version: string }[];
  /** The fencing epoch, as last commanded (it only moves forward). */
  epoch: bigint;
  /**
   * Whether the orchestrator last commanded its order path open (spawn, then SetOrderPath); the
   * path is open only while this is true AND the runner holds its lease (self-fencing.ts).
   */
  ordersOpen: boolean;
  /** Set when self-fencing killed it: the exit reason to report. */
  selfFenced?: string;
  /** Consumed socket → pattern, to route updates. */
  patterns: Map<string, SocketPattern>;
  /** Set once the process has ended. */
  final?: ExitStatus;
  /** How long each step of the spawn took, in ms (for logs and the spawn benchmark). */
  timings?: Record<string, number>;
  /** Set once its resources are being (or have been) released: releasing happens once. */
  released?: Promise<void>;
}

/**
 * A deployment's state as the protocol reports it; `ordersEnabled`: whether its order path is
 * open now (the runner knows: commanded open and a lease held).
 */
export function processStatus(d: NodeDeployment, ordersEnabled = false): Omit<ProcessStatus, "$typeName"> {
  const p = d.process;
  return {
    deploymentId: d.request.deploymentId,
    state: toProtoProcessState(p?.state ?? "starting"),
    pid: p?.pid ?? 0,
    exitCode: d.final?.code ?? undefined,
    signal: d.final?.signal ?? "",
    oomKilled: d.final?.oomKilled ?? false,
    exitReason: d.final?.reason ?? "",
    restarts: 0,
    startedAtUnixMs: BigInt(p?.startedAt.getTime() ?? 0),
    ordersEnabled,
    epoch: d.epoch,
  };
}

/** Consumed socket → pattern, as {@link NodeDeployment.patterns} keeps them (routes go to consumed sockets). */
export function consumedPatterns(
  sockets: readonly { name: string; pattern: SocketPattern; direction: "offer" | "consume" }[],
): Map<string, SocketPattern> {
  return new Map(sockets.filter((k) => k.direction === "consume").map((k) => [k.name, k.pattern]));
}

/** Whether a deployment has an order path (a consumed DEALER socket): a live strategy. */
export function hasOrderPath(d: NodeDeployment): boolean {
  for (const pattern of d.patterns.values()) if (pattern === "dealer") return true;
  return false;
}
