import { create } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import { HiveError } from "../../core/hive-error.ts";
import type { Pool } from "../../domain/index.ts";
import {
  LogStream,
  Pool as ProtoPool,
  PROTOCOL_VERSION,
  ProcessState,
  DatasetState,
  RegisterSchema,
  RunnerErrorCode,
  SocketDirection,
  type OrchestratorMessage,
  type ProcessStatus,
  type Register,
  type SpawnRequest,
  type StopRequest,
} from "../../protocol/index.ts";
import type { TlsMaterial } from "../../security/pki/index.ts";
import { OrchestratorLink, type OrchestratorLinkState } from "../link/orchestrator-link.ts";

/** A fake process: what a real runner would track about one deployment. */
export interface FakeRunnerProcess {
  readonly deploymentId: string;
  readonly request: SpawnRequest;
  readonly pid: number;
  state: ProcessState;
  exitCode?: number;
  exitReason?: string;
  readonly ports: number[];
  readonly addresses: { socketName: string; address: string }[];
  ordersEnabled: boolean;
  epoch: bigint;
  readonly startedAtUnixMs: bigint;
}

/** Options of a {@link FakeRunner}. */
export interface FakeRunnerOptions {
  readonly nodeId: string;
  readonly pool: Pool;
  readonly tags?: readonly string[];
  readonly capacity?: { cores: number; memoryBytes: number; exclusiveCores: number };
  readonly portRange?: { first: number; last: number };
  readonly hotDatasets?: readonly { id: string; version: string; bytes: number }[];
  readonly urls: readonly string[];
  readonly joinToken?: string;
  /** Overrides the orchestrator's heartbeat interval (the scale benchmark sets its own rate). */
  readonly heartbeatIntervalMs?: number;
  readonly transport?: (url: string) => Transport;
  /** The CA, node certificate and key for https:// orchestrators (mutual TLS). */
  readonly tls?: TlsMaterial;
  /** Fake CPU load to report, 0..1. */
  readonly cpu?: () => number;
  /** The CURVE public key (Z85) to send in Register, as a real runner does; default none. */
  readonly curvePublicKey?: string;
  /** How long a stop takes before it is answered (a process in its grace period); default 0. */
  readonly stopDelayMs?: number;
  /** The link's silence watchdog (see LinkOptions.silenceTimeoutMs); default the lease TTL. */
  readonly silenceTimeoutMs?: number;
}

/**
 * An in-process fake runner that speaks the real protocol with fake processes: for orchestrator
 * tests and for simulating thousands of nodes in one process. It answers every request the way a
 * real runner does (spawns report addresses from its port range, stops report exits, routes and
 * datasets are acknowledged) without starting anything.
 */
export class FakeRunner {
  /** Fake processes by deployment id. */
  readonly processes = new Map<string, FakeRunnerProcess>();
  /** Route table versions acknowledged. */
  readonly routeVersions: bigint[] = [];
  /** The routes applied, by `deploymentId/socket`: remotes and CURVE server key ("" for none). */
  readonly routes = new Map<string, { remotes: readonly string[]; curveServerKey: string }>();
  /** Order paths opened, in order, each with the routes of that deployment as they were then. */
  readonly opened: { deploymentId: string; epoch: bigint; remotes: readonly string[] }[] = [];
  private readonly hot = new Map<string, { id: string; version: string; bytes: number }>();
  private readonly link: OrchestratorLink;
  private heartbeat: NodeJS.Timeout | undefined;
  private seq = 0n;
  private nextPid = 10_000;
  private readonly usedPorts = new Set<number>();
  /** Heartbeats sent so far. */
  heartbeatsSent = 0;
  /** HeartbeatAcks received so far (each renews a real runner's lease). */
  heartbeatAcks = 0;
  /** Registrations accepted so far (the first one included). */
  registrations = 0;
  #frozen = false;
  /** The orchestrator's messages received while frozen, handled at thaw in order. */
  readonly #held: OrchestratorMessage[] = [];

  constructor(private readonly options: FakeRunnerOptions) {
    for (const d of options.hotDatasets ?? []) this.hot.set(`${d.id}@${d.version}`, d);
    this.link = new OrchestratorLink({
      urls: options.urls,
      register: () => this.register(),
      onMessage: (m) => this.handle(m),
      onState: (state) => this.onState(state),
      onHeartbeatAck: () => this.heartbeatAcks++,
      transport: options.transport,
      tls: options.tls,
      silenceTimeoutMs: options.silenceTimeoutMs,
    });
  }

  /**
   * Stops heartbeating and handling the orchestrator's messages (they wait, in order) without
   * ending the stream, as a runner whose main thread is stalled (its link's watchdog still runs:
   * give a long silenceTimeoutMs to keep the stream up meanwhile).
   */
  freeze(): void {
    this.#frozen = true;
    this.stopHeartbeat();
  }

  /** Heartbeats again on the same stream, as a stalled runner that resumed. */
  thaw(): void {
    this.#frozen = false;
    for (const m of this.#held.splice(0)) this.handle(m);
    if (this.link.state === "registered") this.startHeartbeat();
  }

  /** Starts connecting and, once registered, heartbeating. */
  start(): void {
    this.link.start();
  }

  /** The link's state. */
  get state(): OrchestratorLinkState {
    return this.link.state;
  }

  /** Makes a fake process exit, as if it crashed; reported in the next heartbeat. */
  exit(deploymentId: string, code: number): void {
    const p = this.processes.get(deploymentId);
    if (!p) throw new HiveError("not_found", `no deployment ${deploymentId} on ${this.options.nodeId}`);
    p.state = code === 0 ? ProcessState.EXITED : ProcessState.FAILED;
    p.exitCode = code;
    p.exitReason = `exited with code ${code}`;
    this.releasePorts(p);
  }

  /** Stops heartbeating and closes the link (a clean runner shutdown). */
  async close(): Promise<void> {
    this.stopHeartbeat();
    await this.link.close();
  }

  private onState(state: OrchestratorLinkState): void {
    if (state !== "registered") {
      this.stopHeartbeat();
      return;
    }
    this.registrations++;
    if (!this.#frozen) this.startHeartbeat();
  }

  private startHeartbeat(): void {
    const interval = this.options.heartbeatIntervalMs ?? (this.link.ack?.heartbeatIntervalMs || 1_000);
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => this.sendHeartbeat(), interval);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private sendHeartbeat(): void {
    this.seq++;
    const sent = this.link.send({
      case: "heartbeat",
      value: {
        seq: this.seq,
        sentAtUnixMs: BigInt(Date.now()),
        load: { cpuFraction: this.options.cpu?.() ?? 0.1, memoryUsedBytes: 1n << 30n },
        processes: [...this.processes.values()].map((p) => this.status(p)),
        hotDatasets: [...this.hot.values()].map((d) => ({
          id: d.id,
          version: d.version,
          sizeBytes: BigInt(d.bytes),
        })),
      },
    });
    if (sent) this.heartbeatsSent++;
  }

  private status(p: FakeRunnerProcess): Omit<ProcessStatus, "$typeName"> {
    return {
      deploymentId: p.deploymentId,
      state: p.state,
      pid: p.pid,
      exitCode: p.exitCode,
      exitReason: p.exitReason ?? "",
      signal: "",
      oomKilled: false,
      restarts: 0,
      startedAtUnixMs: p.startedAtUnixMs,
      ordersEnabled: p.ordersEnabled && p.state === ProcessState.RUNNING,
      epoch: p.epoch,
    };
  }

  private register(): Register {
    const o = this.options;
    const capacity = o.capacity ?? { cores: 16, memoryBytes: 64 * 2 ** 30, exclusiveCores: 14 };
    const range = o.portRange ?? { first: 20_000, last: 20_999 };
    return create(RegisterSchema, {
      protocolVersion: PROTOCOL_VERSION,
      nodeId: o.nodeId,
      pool: o.pool === "live" ? ProtoPool.LIVE : ProtoPool.BACKTEST,
      tags: [...(o.tags ?? [])],
      capacity: {
        cores: capacity.cores,
        memoryBytes: BigInt(capacity.memoryBytes),
        exclusiveCores: capacity.exclusiveCores,
      },
      portRange: { first: range.first, last: range.last },
      hotDatasets: [...this.hot.values()].map((d) => ({
        id: d.id,
        version: d.version,
        sizeBytes: BigInt(d.bytes),
      })),
      linkBandwidthBytesPerSec: 1_250_000_000n,
      joinToken: o.joinToken ?? "",
      runnerVersion: "mock",
      curvePublicKey: o.curvePublicKey ?? "",
      runningDeployments: [...this.processes.values()]
        .filter((p) => p.state === ProcessState.RUNNING)
        .map((p) => ({
          deploymentId: p.deploymentId,
          layout: p.request.layout,
          service: p.request.service,
          epoch: p.epoch,
          resources: p.request.resources,
          status: this.status(p),
          addresses: p.addresses,
          ports: p.ports,
          ordersEnabled: p.ordersEnabled,
        })),
    });
  }

  private allocatePorts(count: number): number[] | undefined {
    const range = this.options.portRange ?? { first: 20_000, last: 20_999 };
    const ports: number[] = [];
    for (let port = range.first; port <= range.last && ports.length < count; port++) {
      if (!this.usedPorts.has(port)) ports.push(port);
    }
    if (ports.length < count) return undefined;
    for (const p of ports) this.usedPorts.add(p);
    return ports;
  }

  private releasePorts(p: FakeRunnerProcess): void {
    for (const port of p.ports) this.usedPorts.delete(port);
  }

  private handle(message: OrchestratorMessage): void {
    if (this.#frozen) {
      this.#held.push(message);
      return;
    }
    const m = message.message;
    switch (m.case) {
      case "spawnRequest":
        return this.spawn(m.value);
      case "stopRequest": {
        if (this.options.stopDelayMs) {
          const request = m.value;
          setTimeout(() => this.stop(request), this.options.stopDelayMs);
        } else {
          this.stop(m.value);
        }
        return;
      }
      case "routeUpdate":
        for (const k of m.value.removals) this.routes.delete(`${k.deploymentId}/${k.socketName}`);
        for (const r of m.value.routes) {
          this.routes.set(`${r.deploymentId}/${r.socketName}`, {
            remotes: [...r.remoteAddresses],
            curveServerKey: r.curveServerKey,
          });
        }
        this.routeVersions.push(m.value.version);
        this.link.send({ case: "routeAck", value: { version: m.value.version } });
        return;
      case "datasetLoad": {
        const d = { id: m.value.id, version: m.value.version, bytes: Number(m.value.sizeBytes) };
        this.hot.set(`${d.id}@${d.version}`, d);
        this.link.send({
          case: "datasetStatus",
          value: { ...d, state: DatasetState.HOT, loadedBytes: BigInt(d.bytes), totalBytes: BigInt(d.bytes) },
        });
        return;
      }
      case "datasetEvict":
        this.hot.delete(`${m.value.id}@${m.value.version}`);
        this.link.send({
          case: "datasetStatus",
          value: { id: m.value.id, version: m.value.version, state: DatasetState.EVICTED },
        });
        return;
      case "setOrderPath": {
        const p = this.processes.get(m.value.deploymentId);
        if (p) {
          if (m.value.open) {
            const remotes = [...this.routes]
              .filter(([key]) => key.startsWith(`${m.value.deploymentId}/`))
              .flatMap(([, r]) => r.remotes);
            this.opened.push({ deploymentId: m.value.deploymentId, epoch: m.value.epoch, remotes });
          }
          p.ordersEnabled = m.value.open;
          // Fencing epochs only move forward, as on a real runner.
          if (m.value.epoch > p.epoch) p.epoch = m.value.epoch;
        }
        return;
      }
      case "logRequest":
        this.link.send({
          case: "logChunk",
          value: {
            requestId: m.value.requestId,
            deploymentId: m.value.deploymentId,
            stream: m.value.stream || LogStream.STDOUT,
            data: new TextEncoder().encode(`mock output of ${m.value.deploymentId}\n`),
            eof: true,
          },
        });
        return;
      case "registerAck":
      case "heartbeatAck":
      case "logCancel":
      case undefined:
        return;
    }
  }

  private stop(r: StopRequest): void {
    const p = this.processes.get(r.deploymentId);
    if (p) {
      p.state = ProcessState.EXITED;
      p.exitCode = 0;
      this.releasePorts(p);
    }
    this.link.send({
      case: "stopResponse",
      value: {
        requestId: r.requestId,
        deploymentId: r.deploymentId,
        ok: p !== undefined,
        error: p
          ? undefined
          : { code: RunnerErrorCode.NOT_FOUND, message: `no deployment ${r.deploymentId}` },
        finalStatus: p ? this.status(p) : undefined,
      },
    });
  }

  private spawn(r: SpawnRequest): void {
    const fail = (code: RunnerErrorCode, message: string) =>
      this.link.send({
        case: "spawnResponse",
        value: { requestId: r.requestId, deploymentId: r.deploymentId, ok: false, error: { code, message } },
      });
    const existing = this.processes.get(r.deploymentId);
    if (existing && existing.state === ProcessState.RUNNING) {
      // As the real runner: spawns are idempotent by deployment id, answered with what runs.
      return void this.link.send({
        case: "spawnResponse",
        value: {
          requestId: r.requestId,
          deploymentId: r.deploymentId,
          ok: true,
          pid: existing.pid,
          addresses: existing.addresses,
          ports: existing.ports,
        },
      });
    }
    const offered = r.sockets.filter((s) => s.direction === SocketDirection.OFFER).map((s) => s.name);
    const names = [...offered, ...r.portNames];
    const ports = this.allocatePorts(names.length);
    if (!ports)
      return void fail(RunnerErrorCode.RESOURCE_EXHAUSTED, `port range of ${this.options.nodeId} is full`);
    const p: FakeRunnerProcess = {
      deploymentId: r.deploymentId,
      request: r,
      pid: this.nextPid++,
      state: ProcessState.RUNNING,
      ports,
      addresses: names.map((socketName, i) => ({ socketName, address: `tcp://127.0.0.1:${ports[i]}` })),
      ordersEnabled: r.ordersEnabled,
      epoch: r.epoch,
      startedAtUnixMs: BigInt(Date.now()),
    };
    this.processes.set(r.deploymentId, p);
    this.link.send({
      case: "spawnResponse",
      value: {
        requestId: r.requestId,
        deploymentId: r.deploymentId,
        ok: true,
        pid: p.pid,
        addresses: p.addresses,
        ports: p.ports,
      },
    });
  }
}
