/**
 * A deployment's spawn as ordered steps, each with its undo (the prestart hooks of Nomad's
 * allocrunner): its uid (when the runner is root), the command (executable by that uid), ports, pinned cores, datasets (loaded into RAM if needed), local
 * sockets in the post office, a cgroup with its limits, then the process itself with the strategy
 * environment. If any step fails, the undo of every step before it runs in reverse order and the
 * error names the step, so a failed spawn leaks no port, core, pin, socket or cgroup.
 *
 * Ordering rules: the uid comes first, as the command is checked against it and the post office
 * hands the ipc directory to it; the cgroup comes after every step that can wait (a dataset load can take
 * minutes) so that no empty group lingers meanwhile; the process comes last, as it is the one step
 * nothing undoes (once launched, its exit watcher frees what it holds). What runs once the process
 * is launched (the order path, the record) is node-deployments.ts's poststart.
 */
import { join } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { DatasetState, type SpawnRequest } from "../../protocol/index.ts";
import type { Cgroup } from "../cgroups/index.ts";
import { fromProtoSocket, rateLimitOf } from "../link/proto-convert.ts";
import type { DeploymentSocket } from "../post-office/index.ts";
import { resolveCommand, type ManagedProcess } from "../process/index.ts";
import type { RunAs } from "../uids/index.ts";
import type { CompiledRunnerOptions } from "../runner-options.ts";
import type { RunnerDeps } from "../runner-deps.ts";
import type { CpuPinning } from "./cpu-pinning.ts";
import { consumedPatterns, type NodeDeployment } from "./node-deployment.ts";
import { buildEnvironment } from "./strategy-environment.ts";

/** What the spawn steps use from the runner. */
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

/** What the steps have taken so far: each step reads what the ones before it gave. */
interface SpawnState {
  readonly id: string;
  readonly request: SpawnRequest;
  /** Its own uid and gid; undefined where the runner is not root (it runs as the runner). */
  runAs?: RunAs;
  command?: string;
  sockets?: DeploymentSocket[];
  /** Offered sockets first, then the request's extra port names: one port each. */
  portNames?: string[];
  ports?: number[];
  cpus?: number[];
  /** Mount name → path in RAM. */
  readonly datasets: Record<string, string>;
  /** Datasets acquired so far (a failure part-way releases these). */
  readonly acquired: { id: string; version: string }[];
  localSockets?: Record<string, string>;
  cgroup?: Cgroup;
  process?: ManagedProcess;
}

/** Times `work` under the step's name (or `name`) and names the step in its error. */
type StepRunner = <T>(work: () => Promise<T> | T, name?: string) => Promise<T>;

/** One step of a spawn: what it takes, and how to give it back. */
interface SpawnHook {
  /** The step's name, in the timings and in a failure's message. */
  readonly name: string;
  /** Takes what the step gives, onto the state. */
  prestart(s: SpawnState, ctx: SpawnContext, step: StepRunner): Promise<void>;
  /** Gives back what prestart took, if it took anything; registered before prestart runs. */
  readonly undo?: (s: SpawnState, ctx: SpawnContext) => unknown;
}

/** The spawn's steps, in order. */
const SPAWN_HOOKS: readonly SpawnHook[] = [
  {
    name: "uid",
    async prestart(s, ctx, step) {
      const uids = ctx.deps.uids;
      if (uids !== undefined) s.runAs = await step(() => uids.allocate(s.id));
    },
    undo: (s, ctx) => s.runAs !== undefined && ctx.deps.uids?.release(s.id),
  },
  {
    // Found as exec would find it for the deployment's uid: one it cannot execute (or whose
    // working directory it cannot enter) is refused here with the path and the uid.
    name: "command",
    async prestart(s, _ctx, step) {
      const { request, runAs } = s;
      s.command = await step(() =>
        resolveCommand(request.command, {
          cwd: request.workingDir || undefined,
          path: request.env.PATH,
          ...(runAs ? { runAs } : {}),
        }),
      );
    },
  },
  {
    name: "ports",
    async prestart(s, ctx, step) {
      s.sockets = s.request.sockets.map(fromProtoSocket);
      const offered = s.sockets.filter((k) => k.direction === "offer").map((k) => k.name);
      const portNames = [...offered, ...s.request.portNames];
      s.portNames = portNames;
      s.ports = await step(() => ctx.deps.ports.allocate(s.id, portNames.length));
    },
    undo: (s, ctx) => s.ports !== undefined && ctx.deps.ports.release(s.id),
  },
  {
    name: "pinned cores",
    async prestart(s, ctx, step) {
      const exclusive = s.request.resources?.exclusiveCores ?? 0;
      s.cpus = await step(() => ctx.pinning.pin(s.id, exclusive));
    },
    undo: (s, ctx) => s.cpus !== undefined && ctx.pinning.release(s.id),
  },
  {
    // One timed step per dataset; whatever was acquired before a failure is released.
    name: "datasets",
    async prestart(s, ctx, step) {
      for (const mount of s.request.datasets) {
        const loaded = await step(
          () =>
            ctx.deps.datasets.acquire(mount.id, mount.version, {
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
          `dataset ${mount.id}@${mount.version}`,
        );
        s.acquired.push({ id: mount.id, version: mount.version });
        s.datasets[mount.name] = loaded.path;
      }
    },
    undo: (s, ctx) => s.acquired.forEach((d) => ctx.deps.datasets.release(d.id, d.version)),
  },
  {
    name: "post office",
    async prestart(s, ctx, step) {
      const sockets = s.sockets ?? [];
      s.localSockets = await step(() =>
        ctx.deps.postOffice.addDeployment(s.id, sockets, {
          epoch: s.request.epoch,
          // Closed while it is being spawned, whatever was asked: until the runner has it in
          // hand, self-fencing and a SetOrderPath(close) could not reach it. The runner opens it
          // after the spawn if the command and the lease allow.
          ordersOpen: false,
          accounts: s.request.accounts,
          rateLimit: rateLimitOf(s.request),
          ...(s.runAs ? { runAs: s.runAs } : {}),
        }),
      );
    },
    undo: (s, ctx) => (s.localSockets !== undefined ? ctx.deps.postOffice.removeDeployment(s.id) : undefined),
  },
  {
    name: "cgroup",
    async prestart(s, ctx, step) {
      const memory = Number(s.request.resources?.memoryBytes ?? 0n);
      const cores = s.request.resources?.cores ?? 0;
      const cpus = s.cpus ?? [];
      s.cgroup = await step(() =>
        ctx.deps.cgroups.create(s.id, {
          memoryBytes: memory > 0 ? memory : undefined,
          cpuQuotaCores: cores > 0 ? cores : undefined,
          cpus: cpus.length > 0 ? cpus : undefined,
        }),
      );
    },
    undo: (s) => s.cgroup?.destroy(),
  },
  {
    // The last step, undone by nobody: a launched process is freed by its exit watcher.
    name: "process",
    async prestart(s, ctx, step) {
      const { request, id } = s;
      const { options, deps } = ctx;
      const portNames = s.portNames ?? [];
      const portByName: Record<string, number> = {};
      portNames.forEach((name, i) => (portByName[name] = s.ports?.[i] ?? 0));
      const env = buildEnvironment({
        deploymentId: id,
        layout: request.layout,
        service: request.service,
        nodeId: options.nodeId,
        env: request.env,
        localSockets: s.localSockets ?? {},
        ports: portByName,
        advertiseHost: options.advertiseHost,
        datasets: s.datasets,
      });
      // Under a uid of its own, the runner's HOME (/root) is out of its reach: its HOME is its
      // own directory (the ipc one, 0700 and its uid's, emptied when it ends), unless the layout
      // names one.
      if (s.runAs !== undefined && !("HOME" in request.env))
        env.HOME = join(options.runDir, "strategies", id);
      const command = s.command ?? request.command;
      s.process = await step(() =>
        deps.launcher.spawn({
          deploymentId: id,
          command,
          args: request.args,
          env,
          cwd: request.workingDir || undefined,
          cgroup: s.cgroup,
          driver: deps.cgroups,
          logDir: ctx.logDir,
          logCapBytes: options.logCapBytes,
          graceMs: options.stopGraceMs,
          stateDir: options.stateDir,
          ...(s.runAs ? { runAs: s.runAs } : {}),
        }),
      );
    },
  },
];

/** Starts one deployment through SPAWN_HOOKS; see the file comment. */
export async function spawnDeployment(ctx: SpawnContext, request: SpawnRequest): Promise<NodeDeployment> {
  const { deps, options } = ctx;
  const id = request.deploymentId;
  const undo: (() => unknown)[] = [];
  const timings: Record<string, number> = {};
  const s: SpawnState = { id, request, datasets: {}, acquired: [] };
  try {
    for (const hook of SPAWN_HOOKS) {
      const step: StepRunner = async (work, name = hook.name) => {
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
      const giveBack = hook.undo;
      if (giveBack) undo.push(() => giveBack(s, ctx));
      await hook.prestart(s, ctx, step);
    }
    const ports = s.ports ?? [];
    const portNames = s.portNames ?? [];
    const sockets = s.sockets ?? [];
    return {
      request,
      ...(s.runAs ? { runAs: s.runAs } : {}),
      process: s.process,
      cgroup: s.cgroup,
      ports,
      cpus: s.cpus ?? [],
      addresses: portNames.map((socketName, i) => ({
        socketName,
        address: `tcp://${options.advertiseHost}:${ports[i]}`,
      })),
      datasets: s.acquired,
      epoch: request.epoch,
      ordersOpen: request.ordersEnabled,
      patterns: consumedPatterns(sockets),
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
