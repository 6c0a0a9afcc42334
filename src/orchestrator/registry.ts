import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { systemClock, type MonotonicClock } from "../core/monotonic-clock.ts";
import type { NodeSpec } from "../domain/index.ts";
import { Pool, type Heartbeat, type Register } from "../protocol/index.ts";
import type { NodeHealth } from "./control-plane.ts";
import type { RunnerSession } from "./runner-session.ts";

/** Lease timings of the registry. */
export interface LeaseOptions {
  /** How often runners heartbeat. */
  readonly heartbeatIntervalMs: number;
  /** Silence after which a node is suspect (takes nothing new, keeps what it runs). */
  readonly suspectAfterMs: number;
  /** Silence after which a node is down: its work is rescheduled. */
  readonly downAfterMs: number;
}

/** One node as the registry knows it. */
export interface NodeEntry {
  readonly id: string;
  register: Register;
  session: RunnerSession | undefined;
  /** The key fingerprint of the certificate it registered with (mutual TLS); undefined on cleartext. */
  identity: string | undefined;
  health: NodeHealth;
  draining: boolean;
  /** Monotonic time (ms) of the last message from its runner. */
  lastHeard: number;
  load: { cpu: number; memoryUsedBytes: number };
  hotDatasets: { id: string; version: string; bytes: number }[];
}

/** A change of a node's health, for the supervisor. */
export interface HealthChange {
  readonly nodeId: string;
  readonly from: NodeHealth;
  readonly to: NodeHealth;
}

/**
 * The runners, with their leases: a node is `ready` while its runner heartbeats, `suspect` after
 * `suspectAfterMs` of silence, `down` after `downAfterMs`. Down is final until the node registers
 * again: its work has moved on (lost-nodes.ts), so a heartbeat it sends afterwards (a runner
 * thawed from a stall, a partition healed with the stream still up) is a sign of life but renews
 * nothing and makes it ready for nothing; the orchestrator does not acknowledge it, the runner's
 * lease runs out (it fences itself) and it registers again, which re-adopts or stops what it runs
 * (runner-reports.ts). A reconnecting runner is ready again at once. Times come from a monotonic
 * clock, so a jump of the wall clock changes nothing.
 */
export class Registry {
  private readonly nodes = new Map<string, NodeEntry>();

  constructor(
    readonly lease: LeaseOptions,
    private readonly now: MonotonicClock["now"] = () => systemClock.now(),
  ) {}

  /**
   * Why a registration of node `nodeId` proving `identity` is refused, or undefined. A node's
   * identity (its certificate's key) is held while it is not down: a session proving another is
   * refused, and the node's own session, strategies and gateway key are left as they are (no
   * flapping between two runners claiming one node). Once the node has been silent for
   * `downAfterMs` (more than twice the runner's lease: it has fenced itself and killed its live
   * processes, and its work is being started elsewhere) a new identity may take the node over,
   * as a reinstalled machine with a fresh key must.
   */
  admits(nodeId: string, identity: string | undefined): string | undefined {
    const entry = this.nodes.get(nodeId);
    if (entry === undefined || entry.identity === identity) return undefined;
    const silence = this.now() - entry.lastHeard;
    if (silence > this.lease.downAfterMs) return undefined;
    return (
      `node ${nodeId} is held by another identity (certificate key ${fingerprintText(entry.identity)}, ` +
      `heard ${Math.round(silence)} ms ago); another key may take it over once it has been silent ` +
      `for ${this.lease.downAfterMs} ms`
    );
  }

  /** Records a (re-)registration; the previous session of the node, if any, is closed. */
  register(register: Register, session: RunnerSession, draining: boolean): NodeEntry {
    const previous = this.nodes.get(register.nodeId);
    if (previous?.session && previous.session !== session)
      previous.session.close("replaced by a new connection");
    const entry: NodeEntry = {
      id: register.nodeId,
      register,
      session,
      identity: session.identity,
      health: "ready",
      draining: previous?.draining ?? draining,
      lastHeard: this.now(),
      load: previous?.load ?? { cpu: 0, memoryUsedBytes: 0 },
      hotDatasets: register.hotDatasets.map((d) => ({
        id: d.id,
        version: d.version,
        bytes: Number(d.sizeBytes),
      })),
    };
    this.nodes.set(register.nodeId, entry);
    return entry;
  }

  /**
   * Records a heartbeat; returns the node, or undefined if the session is not the node's current
   * one. A node declared down stays down (see the class comment): only its silence is reset.
   */
  heartbeat(nodeId: string, session: RunnerSession, hb: Heartbeat): NodeEntry | undefined {
    const entry = this.nodes.get(nodeId);
    if (!entry || entry.session !== session) return undefined;
    entry.lastHeard = this.now();
    if (entry.health === "down") return entry;
    entry.health = "ready";
    if (hb.load) entry.load = { cpu: hb.load.cpuFraction, memoryUsedBytes: Number(hb.load.memoryUsedBytes) };
    entry.hotDatasets = hb.hotDatasets.map((d) => ({
      id: d.id,
      version: d.version,
      bytes: Number(d.sizeBytes),
    }));
    return entry;
  }

  /** Marks any message from the runner as a sign of life. */
  touch(nodeId: string, session: RunnerSession): void {
    const entry = this.nodes.get(nodeId);
    if (entry && entry.session === session) entry.lastHeard = this.now();
  }

  /** The stream of a node ended; its lease runs on (it may reconnect). */
  disconnected(nodeId: string, session: RunnerSession): void {
    const entry = this.nodes.get(nodeId);
    if (entry && entry.session === session) entry.session = undefined;
  }

  /** Applies the lease rules; returns the nodes whose health changed. */
  tick(): HealthChange[] {
    const changes: HealthChange[] = [];
    const now = this.now();
    for (const entry of this.nodes.values()) {
      if (entry.health === "down") continue; // until it registers again (see the class comment)
      const silence = now - entry.lastHeard;
      const to: NodeHealth =
        silence > this.lease.downAfterMs ? "down" : silence > this.lease.suspectAfterMs ? "suspect" : "ready";
      if (to !== entry.health) {
        changes.push({ nodeId: entry.id, from: entry.health, to });
        entry.health = to;
      }
    }
    return changes;
  }

  /** Marks a node draining or not; NotFound for an unknown node. */
  setDraining(nodeId: string, draining: boolean): NodeEntry {
    const entry = this.get(nodeId);
    entry.draining = draining;
    return entry;
  }

  /** A node; NotFound if no runner ever registered it. */
  get(nodeId: string): NodeEntry {
    const entry = this.nodes.get(nodeId);
    if (!entry) {
      const known = [...this.nodes.keys()].sort().join(", ") || "none";
      throw new HiveError(ErrorCode.NotFound, `no node ${nodeId} (known: ${known})`);
    }
    return entry;
  }

  /** A node, or undefined. */
  find(nodeId: string): NodeEntry | undefined {
    return this.nodes.get(nodeId);
  }

  /** Every node. */
  list(): NodeEntry[] {
    return [...this.nodes.values()];
  }

  /** Milliseconds since a node was last heard from. */
  silence(entry: NodeEntry): number {
    return this.now() - entry.lastHeard;
  }

  /** The nodes as the scheduler sees them. */
  snapshot(): NodeSpec[] {
    return this.list().map(toNodeSpec);
  }
}

/** The start of a key fingerprint, for messages. */
function fingerprintText(identity: string | undefined): string {
  return identity === undefined ? "none (cleartext)" : `sha256:${identity.slice(0, 16)}…`;
}

/** A registered node in the domain's terms. */
export function toNodeSpec(entry: NodeEntry): NodeSpec {
  const r = entry.register;
  return {
    id: entry.id,
    pool: r.pool === Pool.LIVE ? "live" : "backtest",
    tags: r.tags,
    capacity: {
      cores: r.capacity?.cores ?? 0,
      memoryBytes: Number(r.capacity?.memoryBytes ?? 0n),
      exclusiveCores: r.capacity?.exclusiveCores ?? 0,
    },
    portRange: { first: r.portRange?.first ?? 0, last: r.portRange?.last ?? -1 },
    hotDatasets: entry.hotDatasets,
    load: entry.load,
    state: entry.health,
    draining: entry.draining,
    linkBandwidthBytesPerSec: Number(r.linkBandwidthBytesPerSec) || 1.25e9,
  };
}
