import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { SocketPattern } from "../../domain/index.ts";
import { DatasetState, type ProcessStatus, type SpawnRequest } from "../../protocol/index.ts";
import type { Cgroup } from "../cgroups/index.ts";
import type { CpuPinning } from "./cpu-pinning.ts";
import { buildEnvironment } from "./strategy-environment.ts";
import { resolveCommand } from "../process/resolve-command.ts";
import type { ExitStatus, ManagedProcess } from "../process/index.ts";
import { fromProtoSocket, toProtoProcessState } from "../link/proto-convert.ts";
import type { CompiledRunnerOptions } from "../runner-options.ts";
import type { RunnerDeps } from "../runner-deps.ts";

/** One deployment on this runner and everything it was given. */
export interface NodeDeployment {
  readonly request: SpawnRequest;
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

/** What the spawn pipeline uses from the runner. */
export interface SpawnContext {
  readonly options: CompiledRunnerOptions;
  readonly deps: RunnerDeps;
  readonly pinning: CpuPinning;
  readonly logDir: string;
  /** Whether order paths may open now (the runner holds its lease). */
  readonly ordersAllowed: () => boolean;
  readonly datasetProgress: (status: {
    id: string;
    version: string;
    state: DatasetState;
    loadedBytes?: number;
    totalBytes?: number;
  }) => void;
}

/** A deployment's state as the protocol reports it. */
export function processStatus(d: NodeDeployment): Omit<ProcessStatus, "$typeName"> {
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
  };
}

/**
 * Starts one deployment, in order: ports, pinned cores, datasets (loaded into RAM if needed),
 * local sockets in the post office, a cgroup with its limits, then the process itself with the
 * strategy environment. If any step fails, the steps before it are undone in reverse order and
 * the error names the step, so a failed spawn leaks no port, core, pin, socket or cgroup.
 */
export async function spawnDeployment(ctx: SpawnContext, request: SpawnRequest): Promise<NodeDeployment> {
  const { deps, options } = ctx;
  const id = request.deploymentId;
  const undo: (() => unknown)[] = [];
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, work: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } catch (err) {
      const e = HiveError.from(err);
      throw new HiveError(e.code, `spawn ${id}: ${name}: ${e.message}`, { cause: err });
    } finally {
      timings[name] = (timings[name] ?? 0) + performance.now() - t0;
    }
  };
  try {
    const command = await step("command", () =>
      resolveCommand(request.command, { cwd: request.workingDir || undefined, path: request.env.PATH }),
    );
    const sockets = request.sockets.map(fromProtoSocket);
    const offered = sockets.filter((s) => s.direction === "offer").map((s) => s.name);
    const portNames = [...offered, ...request.portNames];
    const ports = await step("ports", () => deps.ports.allocate(id, portNames.length));
    undo.push(() => deps.ports.release(id));

    const exclusive = request.resources?.exclusiveCores ?? 0;
    const cpus = await step("pinned cores", () => ctx.pinning.pin(id, exclusive));
    undo.push(() => ctx.pinning.release(id));

    const datasets: Record<string, string> = {};
    const acquired: { id: string; version: string }[] = [];
    undo.push(() => acquired.forEach((d) => deps.datasets.release(d.id, d.version)));
    for (const mount of request.datasets) {
      const loaded = await step(`dataset ${mount.id}@${mount.version}`, () =>
        deps.datasets.acquire(mount.id, mount.version, {
          source: mount.sourcePath || undefined,
          onProgress: (loadedBytes, totalBytes) =>
            ctx.datasetProgress({
              id: mount.id,
              version: mount.version,
              state: DatasetState.LOADING,
              loadedBytes,
              totalBytes,
            }),
        }),
      );
      acquired.push({ id: mount.id, version: mount.version });
      datasets[mount.name] = loaded.path;
    }

    const epoch = request.epoch;
    const localSockets = await step("post office", () =>
      deps.postOffice.addDeployment(id, sockets, {
        epoch,
        // Closed while it is being spawned, whatever was asked: until the runner has it in hand,
        // self-fencing and a SetOrderPath(close) could not reach it. The runner opens it after
        // the spawn if the command and the lease allow.
        ordersOpen: false,
        accounts: request.accounts,
      }),
    );
    undo.push(() => deps.postOffice.removeDeployment(id));

    const memory = Number(request.resources?.memoryBytes ?? 0n);
    const cores = request.resources?.cores ?? 0;
    const cgroup = await step("cgroup", () =>
      deps.cgroups.create(id, {
        memoryBytes: memory > 0 ? memory : undefined,
        cpuQuotaCores: cores > 0 ? cores : undefined,
        cpus: cpus.length > 0 ? cpus : undefined,
      }),
    );
    undo.push(() => cgroup.destroy());

    const portByName: Record<string, number> = {};
    portNames.forEach((name, i) => (portByName[name] = ports[i] ?? 0));
    const env = buildEnvironment({
      deploymentId: id,
      layout: request.layout,
      service: request.service,
      nodeId: options.nodeId,
      env: request.env,
      localSockets,
      ports: portByName,
      advertiseHost: options.advertiseHost,
      datasets,
    });
    const process = await step("process", () =>
      deps.launcher.spawn({
        deploymentId: id,
        command,
        args: request.args,
        env,
        cwd: request.workingDir || undefined,
        cgroup,
        driver: deps.cgroups,
        logDir: ctx.logDir,
        logCapBytes: options.logCapBytes,
        graceMs: options.stopGraceMs,
        stateDir: options.stateDir,
      }),
    );
    return {
      request,
      process,
      cgroup,
      ports,
      cpus,
      addresses: portNames.map((socketName, i) => ({
        socketName,
        address: `tcp://${options.advertiseHost}:${ports[i]}`,
      })),
      datasets: acquired,
      epoch,
      ordersOpen: request.ordersEnabled,
      patterns: new Map(sockets.filter((s) => s.direction === "consume").map((s) => [s.name, s.pattern])),
      timings,
    };
  } catch (err) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (cleanup) {
        deps.log.error({ deploymentId: id, err: cleanup }, "rolling back a failed spawn");
      }
    }
    throw err instanceof HiveError ? err : new HiveError(ErrorCode.Internal, String(err), { cause: err });
  }
}

/**
 * Rebuilds what a re-adopted process had: its ports (so they are not handed out again), its
 * datasets pinned again (so none is evicted under it) and its local sockets (the post office binds
 * the same paths again; the process's ZeroMQ sockets reconnect to them by themselves), with its
 * accounts and its commanded order-path state from the record. What it takes is on `d` as soon as
 * it is taken, so that a failure part-way is undone by releasing `d`.
 */
export async function rebuildDeployment(ctx: SpawnContext, d: NodeDeployment): Promise<void> {
  const id = d.request.deploymentId;
  const sockets = d.request.sockets.map(fromProtoSocket);
  d.patterns = new Map(sockets.filter((s) => s.direction === "consume").map((s) => [s.name, s.pattern]));
  ctx.deps.ports.reserve(id, d.ports);
  for (const m of d.request.datasets) {
    try {
      await ctx.deps.datasets.acquire(m.id, m.version);
      d.datasets.push({ id: m.id, version: m.version });
    } catch (err) {
      // Gone while no runner ran: said in the log; the process may fail on it.
      ctx.deps.log.error(
        { deploymentId: id, dataset: `${m.id}@${m.version}`, err: HiveError.from(err).message },
        "a dataset of a re-adopted process is no longer in RAM",
      );
    }
  }
  // Closed until the runner holds a lease again; then it is restored to ordersOpen.
  await ctx.deps.postOffice.addDeployment(id, sockets, {
    epoch: d.epoch,
    ordersOpen: d.ordersOpen && ctx.ordersAllowed(),
    accounts: d.request.accounts,
  });
}
