import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { hashString } from "../core/seeded-random.ts";
import { portCount, type NodeSpec } from "../domain/index.ts";
import { NodeIndex } from "./node-index.ts";
import { coresTaken, type Demand } from "./request.ts";

/** Resources already committed on a node: running (reported by its runner) or in flight. */
export interface Allocation {
  readonly nodeId: string;
  readonly demand: Demand;
  /** Placed but not yet reported back by the runner: it still counts, or a node is overbooked. */
  readonly inFlight: boolean;
}

const STATE_CODE = { ready: 0, suspect: 1, down: 2 } as const;

/**
 * The cluster as the scheduler reads it: nodes, their indices, and what is committed on each,
 * laid out as typed arrays by node number so a decision touches no Map in its inner loop.
 *
 * The scheduler only reads this. Its owner (the orchestrator's registry, a benchmark) records
 * what was decided with `reserve` and `release`, as Nomad's plan applier does after the
 * scheduler has proposed a plan; a change of nodes (join, leave, new tags) builds a new state.
 */
export class ClusterState {
  readonly nodes: readonly NodeSpec[];
  readonly index: NodeIndex;
  private readonly ids = new Map<string, number>();

  /** Static per-node facts. */
  readonly isLive: Uint8Array;
  readonly stateCode: Uint8Array;
  readonly draining: Uint8Array;
  readonly capCores: Float64Array;
  readonly capMemory: Float64Array;
  readonly capExclusive: Int32Array;
  readonly capPorts: Int32Array;
  readonly cpuLoad: Float64Array;
  readonly bandwidth: Float64Array;
  readonly idHash: Uint32Array;

  /** Committed resources, in-flight reservations included. */
  readonly usedCores: Float64Array;
  readonly usedMemory: Float64Array;
  readonly usedExclusive: Int32Array;
  readonly usedPorts: Int32Array;
  /** The in-flight part of the above, so explanations can say "2 cores reserved in flight". */
  readonly inFlightCores: Float64Array;
  readonly inFlightMemory: Float64Array;

  constructor(nodes: readonly NodeSpec[], allocations: readonly Allocation[] = []) {
    const n = nodes.length;
    this.nodes = nodes;
    this.isLive = new Uint8Array(n);
    this.stateCode = new Uint8Array(n);
    this.draining = new Uint8Array(n);
    this.capCores = new Float64Array(n);
    this.capMemory = new Float64Array(n);
    this.capExclusive = new Int32Array(n);
    this.capPorts = new Int32Array(n);
    this.cpuLoad = new Float64Array(n);
    this.bandwidth = new Float64Array(n);
    this.idHash = new Uint32Array(n);
    this.usedCores = new Float64Array(n);
    this.usedMemory = new Float64Array(n);
    this.usedExclusive = new Int32Array(n);
    this.usedPorts = new Int32Array(n);
    this.inFlightCores = new Float64Array(n);
    this.inFlightMemory = new Float64Array(n);
    nodes.forEach((node, i) => {
      if (this.ids.has(node.id)) {
        throw new HiveError(ErrorCode.InvalidArgument, `node id ${node.id} appears twice in the cluster`);
      }
      this.ids.set(node.id, i);
      this.isLive[i] = node.pool === "live" ? 1 : 0;
      this.stateCode[i] = STATE_CODE[node.state];
      this.draining[i] = node.draining ? 1 : 0;
      this.capCores[i] = node.capacity.cores;
      this.capMemory[i] = node.capacity.memoryBytes;
      this.capExclusive[i] = node.capacity.exclusiveCores;
      this.capPorts[i] = portCount(node);
      this.cpuLoad[i] = Math.min(1, Math.max(0, node.load.cpu));
      this.bandwidth[i] = node.linkBandwidthBytesPerSec;
      this.idHash[i] = hashString(node.id);
    });
    this.index = new NodeIndex(nodes);
    for (const a of allocations) this.reserve(this.indexOf(a.nodeId), a.demand, a.inFlight);
  }

  /** How many nodes. */
  get size(): number {
    return this.nodes.length;
  }

  /** The node number of an id, or -1. */
  lookup(nodeId: string): number {
    return this.ids.get(nodeId) ?? -1;
  }

  /** The node number of an id; throws NotFound. */
  indexOf(nodeId: string): number {
    const i = this.ids.get(nodeId);
    if (i === undefined) throw new HiveError(ErrorCode.NotFound, `no node ${nodeId} in the cluster`);
    return i;
  }

  /** Records a placement on a node (owner only; the scheduler never calls this). */
  reserve(node: number, demand: Demand, inFlight = true): void {
    this.add(node, demand, inFlight, 1);
  }

  /** Gives back what {@link reserve} took: the process ended, or an in-flight one was reported. */
  release(node: number, demand: Demand, inFlight = true): void {
    this.add(node, demand, inFlight, -1);
  }

  private add(i: number, d: Demand, inFlight: boolean, sign: 1 | -1): void {
    const cores = coresTaken(d);
    this.usedCores[i] = (this.usedCores[i] ?? 0) + sign * cores;
    this.usedMemory[i] = (this.usedMemory[i] ?? 0) + sign * d.memoryBytes;
    this.usedExclusive[i] = (this.usedExclusive[i] ?? 0) + sign * d.exclusiveCores;
    this.usedPorts[i] = (this.usedPorts[i] ?? 0) + sign * d.ports;
    if (inFlight) {
      this.inFlightCores[i] = (this.inFlightCores[i] ?? 0) + sign * cores;
      this.inFlightMemory[i] = (this.inFlightMemory[i] ?? 0) + sign * d.memoryBytes;
    }
  }
}
