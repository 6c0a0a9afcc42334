/**
 * An in-memory ControlPlane for tests of the HTTP API and the CLI: layouts are really parsed and
 * validated (so a bad one fails with located issues), deployments move one phase per
 * `getLayout` (pending → starting → running, as `hive apply` polls), services can be held
 * pending with a reason, and logs yield a few chunks then, when following, wait for more or for
 * the abort, which it records.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { layoutSchema, parseYaml, ValidationError, type Layout } from "../../domain/index.ts";
import { validateLayout } from "../../layout/index.ts";
import type {
  ApplyResult,
  ControlPlane,
  DatasetView,
  DeploymentPhase,
  DeploymentView,
  LayoutView,
  LogOptions,
  NodeView,
  FailoverView,
  GatewayAccountView,
  GatewayReassignView,
  KillResult,
  ServiceExplanation,
} from "../control-plane.ts";
import { serviceChanges } from "../layout-entry.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface FakeLayout {
  layout: Layout;
  generation: number;
  appliedAt: string;
  deployments: Mutable<DeploymentView>[];
}

/** A node view with sensible defaults, for tests. */
export function fakeNode(id: string, overrides: Partial<NodeView> = {}): NodeView {
  return {
    id,
    pool: "live",
    tags: [],
    health: "ready",
    draining: false,
    connected: true,
    capacity: { cores: 8, memoryBytes: 16 * 2 ** 30, exclusiveCores: 2 },
    allocated: { cores: 0, memoryBytes: 0, exclusiveCores: 0 },
    load: { cpu: 0.25, memoryUsedBytes: 2 ** 30 },
    hotDatasets: [],
    resourceLimits: "cgroup v2",
    unlimited: false,
    deployments: 0,
    lastHeartbeatAgoMs: 120,
    ...overrides,
  };
}

/** Options of {@link FakeControlPlane}. */
export interface FakeControlPlaneOptions {
  readonly nodes?: readonly NodeView[];
  readonly datasets?: readonly DatasetView[];
}

/** The in-memory ControlPlane. */
export class FakeControlPlane implements ControlPlane {
  /** Every operation called, in order (`applyLayout`, `getLayout`...). */
  readonly calls: string[] = [];
  /** Log reads that ended because their signal aborted. */
  logsAborted = 0;
  private readonly nodes: Mutable<NodeView>[];
  private readonly datasets: DatasetView[];
  private readonly layouts = new Map<string, FakeLayout>();
  private readonly held = new Map<string, string>();
  private readonly output = new Map<string, { stdout: string[]; stderr: string[] }>();
  private readonly followers = new Set<() => void>();
  private readonly abortWaiters: (() => void)[] = [];
  private failure: HiveError | undefined;

  constructor(options: FakeControlPlaneOptions = {}) {
    this.nodes = (options.nodes ?? [fakeNode("live-1"), fakeNode("data-1", { pool: "backtest" })]).map(
      (n) => ({ ...n }),
    );
    this.datasets = [...(options.datasets ?? [])];
  }

  /** Makes every operation throw `err` (or behave again, with undefined). */
  failWith(err: HiveError | undefined): void {
    this.failure = err;
  }

  /** Keeps a service's deployments pending, with the scheduler's reason. */
  holdPending(service: string, reason: string): void {
    this.held.set(service, reason);
  }

  /** Adds output to a deployment's log; followers see it at once. */
  appendLog(deploymentId: string, text: string, stream: "stdout" | "stderr" = "stdout"): void {
    const out = this.output.get(deploymentId) ?? { stdout: [], stderr: [] };
    out[stream].push(text);
    this.output.set(deploymentId, out);
    for (const wake of this.followers) wake();
  }

  /** Resolves when the next log read ends by its abort. */
  nextLogAbort(): Promise<void> {
    return new Promise((resolve) => this.abortWaiters.push(resolve));
  }

  applyLayout(source: string, fileName: string): Promise<ApplyResult> {
    return this.op("applyLayout", () => {
      const parsed = parseYaml(source, fileName, layoutSchema);
      const issues = validateLayout(parsed.value);
      if (issues.length > 0) throw new ValidationError(issues.map((i) => parsed.locate(i)));
      const layout = parsed.value;
      const before = this.layouts.get(layout.name);
      const result = { layout: layout.name, generation: (before?.generation ?? 0) + 1 };
      const { added, changed, removed, unchanged } = serviceChanges(before?.layout, layout);
      const kept = before?.deployments.filter((d) => unchanged.includes(d.service)) ?? [];
      const fresh = layout.services
        .filter((s) => !unchanged.includes(s.name))
        .flatMap((s) =>
          Array.from({ length: 1 + s.standby }, (_, r) => this.newDeployment(layout.name, s.name, r)),
        );
      this.layouts.set(layout.name, {
        layout,
        generation: result.generation,
        appliedAt: new Date(0).toISOString(),
        deployments: [...kept, ...fresh],
      });
      return { ...result, added, changed, removed, unchanged };
    });
  }

  listLayouts(): Promise<LayoutView[]> {
    return this.op("listLayouts", () => [...this.layouts.values()].map((l) => view(l)));
  }

  getLayout(name: string): Promise<LayoutView> {
    return this.op("getLayout", () => {
      const l = this.layout(name);
      const seen = view(l);
      // After the look, so the first look after an apply sees everything pending.
      for (const d of l.deployments) this.advance(d, l.layout);
      return seen;
    });
  }

  stopLayout(name: string): Promise<void> {
    return this.op("stopLayout", () => {
      this.layout(name);
      this.layouts.delete(name);
    });
  }

  listNodes(): Promise<NodeView[]> {
    return this.op("listNodes", () =>
      this.nodes.map((n) => ({ ...n, deployments: this.all().filter((d) => d.nodeId === n.id).length })),
    );
  }

  listDeployments(filter: { layout?: string; nodeId?: string } = {}): Promise<DeploymentView[]> {
    return this.op("listDeployments", () =>
      this.all()
        .filter((d) => filter.layout === undefined || d.layout === filter.layout)
        .filter((d) => filter.nodeId === undefined || d.nodeId === filter.nodeId)
        .map((d) => ({ ...d })),
    );
  }

  explain(layout: string, service: string): Promise<ServiceExplanation> {
    return this.op("explain", () => {
      const l = this.layout(layout);
      if (!l.layout.services.some((s) => s.name === service)) {
        throw new HiveError(ErrorCode.NotFound, `layout ${layout} has no service "${service}"`);
      }
      const instances = this.all()
        .filter((d) => d.layout === layout && d.service === service)
        .map((d) => ({ id: d.id, role: d.role, replica: d.replica, nodeId: d.nodeId, phase: d.phase }));
      const held = this.held.get(service);
      if (held !== undefined) {
        const waiting = instances.find((i) => i.nodeId === null);
        return {
          instances,
          ...(waiting ? { explained: waiting.id } : {}),
          decision: {
            ok: false,
            reasons: [{ reason: "pool-mismatch", count: this.nodes.length }],
            message: held,
          },
          nodes: this.nodes.map((n) => ({
            nodeId: n.id,
            verdict: "refused",
            reason: "pool-mismatch",
            detail: held,
          })),
          summary: held,
        };
      }
      const [first, ...rest] = this.nodes;
      if (first === undefined) throw new HiveError(ErrorCode.FailedPrecondition, "no nodes");
      return {
        instances,
        decision: { ok: true, nodeId: first.id, node: 0, score: 0.9, visited: this.nodes.length, scored: 1 },
        nodes: [
          { nodeId: first.id, verdict: "chosen", score: 0.9, parts: { fit: 0.9 }, hot: undefined },
          ...rest.map((n) => ({
            nodeId: n.id,
            verdict: "refused" as const,
            reason: "pool-mismatch" as const,
            detail: "pool mismatch",
          })),
        ],
        summary: `${this.nodes.length} nodes: chosen`,
      };
    });
  }

  drain(nodeId: string, draining: boolean): Promise<NodeView> {
    return this.op("drain", () => {
      const node = this.nodes.find((n) => n.id === nodeId);
      if (node === undefined) throw new HiveError(ErrorCode.NotFound, `no node "${nodeId}"`);
      node.draining = draining;
      return { ...node, deployments: this.all().filter((d) => d.nodeId === node.id).length };
    });
  }

  async *logs(deploymentId: string, options: LogOptions): AsyncIterable<Uint8Array> {
    await this.op("logs", () => {
      if (!this.all().some((d) => d.id === deploymentId)) {
        throw new HiveError(ErrorCode.NotFound, `no deployment "${deploymentId}"`);
      }
    });
    const encoder = new TextEncoder();
    const chunks = () => this.output.get(deploymentId)?.[options.stream] ?? [];
    let sent = chunks().length;
    let backlog = chunks().join("");
    if (options.tailBytes !== undefined) backlog = backlog.slice(-options.tailBytes || backlog.length);
    if (backlog !== "") yield encoder.encode(backlog);
    if (!options.follow || options.signal === undefined) return;
    const signal = options.signal;
    try {
      while (!signal.aborted) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.followers.delete(wake);
            signal.removeEventListener("abort", wake);
            resolve();
          };
          this.followers.add(wake);
          signal.addEventListener("abort", wake, { once: true });
        });
        for (const chunk of chunks().slice(sent)) yield encoder.encode(chunk);
        sent = chunks().length;
      }
    } finally {
      if (signal.aborted) {
        this.logsAborted++;
        for (const resolve of this.abortWaiters.splice(0)) resolve();
      }
    }
  }

  listDatasets(): Promise<DatasetView[]> {
    return this.op("listDatasets", () => [...this.datasets]);
  }

  private async op<T>(name: string, body: () => T): Promise<T> {
    this.calls.push(name);
    await Promise.resolve();
    if (this.failure !== undefined) throw this.failure;
    return body();
  }

  private layout(name: string): FakeLayout {
    const l = this.layouts.get(name);
    if (l === undefined) throw new HiveError(ErrorCode.NotFound, `no layout "${name}"`);
    return l;
  }

  private all(): Mutable<DeploymentView>[] {
    return [...this.layouts.values()].flatMap((l) => l.deployments);
  }

  private newDeployment(layout: string, service: string, replica: number): Mutable<DeploymentView> {
    return {
      id: `${layout}.${service}${replica === 0 ? "" : `-standby-${replica}`}`,
      layout,
      service,
      role: replica === 0 ? "active" : "standby",
      replica,
      nodeId: null,
      phase: "pending",
      pid: null,
      addresses: {},
      restarts: 0,
      epoch: "0",
      pendingReason: this.held.get(service) ?? null,
      lastExit: null,
    };
  }

  /** One step of a deployment's life, unless its service is held pending; replica r on the r-th node of its pool. */
  private advance(d: Mutable<DeploymentView>, layout: Layout): void {
    if (this.held.has(d.service)) return;
    const next: Partial<Record<DeploymentPhase, DeploymentPhase>> = {
      pending: "starting",
      starting: "running",
    };
    const phase = next[d.phase];
    if (phase === undefined) return;
    d.phase = phase;
    d.pendingReason = null;
    const pool = layout.services.find((s) => s.name === d.service)?.pool;
    const nodes = this.nodes.filter((n) => n.pool === pool);
    d.nodeId = nodes[d.replica % Math.max(1, nodes.length)]?.id ?? null;
    if (phase === "running") d.pid = 1000 + d.replica;
  }

  /** Accounts the fake's gateway knows, with their kill switch. */
  /** The accounts the fake gateway knows (as if it held a position in each), killed or not. */
  private readonly killed = new Map<string, boolean>([["paper-001", false]]);

  failover(layout: string, service: string): Promise<FailoverView> {
    return this.op("failover", () => {
      const l = this.layout(layout);
      const active = l.deployments.find((d) => d.service === service && d.role === "active");
      const standby = l.deployments.find((d) => d.service === service && d.role === "standby");
      if (!active || !standby) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `${layout}/${service} has no standby to fail over to`,
        );
      }
      const epoch = String(Number(active.epoch) + 1);
      Object.assign(active, { role: "standby" });
      Object.assign(standby, { role: "active", epoch });
      return { layout, service, from: active.id, to: standby.id, epoch, fencedAfterMs: 1, openedAfterMs: 2 };
    });
  }

  kill(account: string, _reason: string, options: { force?: boolean } = {}): Promise<KillResult[]> {
    return this.op("kill", () => {
      const traded = [...this.layouts.values()].some((l) =>
        l.layout.services.some((m) => m.accounts.includes(account)),
      );
      if (!options.force && !traded && !this.killed.has(account)) {
        throw new HiveError(
          ErrorCode.NotFound,
          `no layout trades account "${account}" and no gateway knows it`,
        );
      }
      this.killed.set(account, true);
      return [{ gateway: "paper", account, cancelled: 0 }];
    });
  }

  unkill(account: string): Promise<void> {
    return this.op("unkill", () => {
      this.killed.set(account, false);
    });
  }

  /** The controller the fake's one gateway, "paper", has (null: none yet). */
  gatewayController: string | null = null;

  reassignGateway(gateway: string, from: string, by: string): Promise<GatewayReassignView> {
    return this.op("reassignGateway", () => {
      void by;
      if (gateway !== "paper")
        throw new HiveError(ErrorCode.NotFound, `no gateway ${gateway} (configured: paper)`);
      if (from !== (this.gatewayController ?? "none"))
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `reassign: this gateway is controlled by ${this.gatewayController ?? "no cluster yet"}; expected --from ${this.gatewayController ?? "none"}`,
        );
      const previous = this.gatewayController;
      this.gatewayController = "fake-cluster";
      return { gateway, from: previous, to: "fake-cluster", gatewayEpoch: "0", storeEpoch: "0" };
    });
  }

  accounts(account?: string): Promise<GatewayAccountView[]> {
    return this.op("accounts", () =>
      [...this.killed]
        .filter(([a]) => account === undefined || a === account)
        .map(([a, killed]) => ({
          gateway: "paper",
          account: a,
          fence: null,
          killed,
          positions: {},
          openOrders: [],
        })),
    );
  }
}

function view(l: FakeLayout): LayoutView {
  const phases = l.deployments.map((d) => d.phase);
  const state = phases.every((p) => p === "running")
    ? "running"
    : phases.every((p) => p === "pending")
      ? "pending"
      : phases.some((p) => p === "failed")
        ? "degraded"
        : "deploying";
  return {
    name: l.layout.name,
    generation: l.generation,
    appliedAt: l.appliedAt,
    state,
    deployments: l.deployments.map((d) => ({ ...d })),
  };
}
