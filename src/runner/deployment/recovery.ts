/**
 * Recovery at start: processes outlive the runner, and a restarted runner takes back the ones its
 * records name (re-adoption), so that the orchestrator, which sees them in the next Register,
 * restarts nothing that is healthy. A process it cannot take back is killed and freed; one it has
 * no record of is killed. Ordering rule: a re-adopted deployment is listed before anything of it
 * is taken back, so that whatever the adoption got through, a release frees.
 */
import { HiveError } from "../../core/hive-error.ts";
import { recoverProcesses, type ManagedProcess } from "../process/index.ts";
import { fromProtoSocket, rateLimitOf } from "../link/proto-convert.ts";
import { loadAdoptionRecords, removeAdoptionRecord, type AdoptionRecord } from "./adoption-record.ts";
import { consumedPatterns, type NodeDeployment } from "./node-deployment.ts";
import type { NodeDeployments } from "./node-deployments.ts";
import { sameDirectory } from "./same-directory.ts";
import type { SpawnContext } from "./spawn-hooks.ts";

/** Re-adopts what a previous run of the runner left on this node; see the file comment. */
export async function recoverDeployments(deployments: NodeDeployments): Promise<void> {
  const ctx = deployments.spawnContext;
  const { options, deps } = ctx;
  const { records, unreadable, loose } = await loadAdoptionRecords(options.stateDir);
  for (const name of unreadable) deps.log.error({ file: name }, "unreadable deployment record ignored");
  for (const name of loose)
    deps.log.warn(
      { file: name },
      "deployment record left readable by others: its mode could not be set to 0600",
    );
  // What the previous run left in RAM, kept even under a lowered budget where a process that
  // outlived it still reads it (it is pinned again when that process is re-adopted).
  await deps.datasets.adoptExisting({ inUse: records.flatMap((r) => r.request.datasets) });
  const recovery = await recoverProcesses({ stateDir: options.stateDir, driver: deps.cgroups });
  const alive = new Map(recovery.processes.map((p) => [p.deploymentId, p]));
  for (const record of records) {
    const id = record.request.deploymentId;
    const process = alive.get(id);
    if (!process) {
      await removeAdoptionRecord(options.stateDir, id);
      continue;
    }
    alive.delete(id);
    const deployment = adoptable(record, process);
    deployments.track(deployment);
    const moved =
      record.runDir !== undefined && !sameDirectory(record.runDir, options.runDir)
        ? new HiveError(
            "failed_precondition",
            `its local sockets are under ${record.runDir}, and this runner's run directory is ` +
              `${options.runDir}: the process could not reach them`,
          )
        : undefined;
    const adopted = moved === undefined ? adopt(deployments, deployment) : Promise.reject(moved);
    await adopted.catch((err: unknown) => abandon(deployments, deployment, err));
  }
  // A process the process layer recorded but the runner did not (it died between the launch
  // and its own record) is not adopted half-known: it is killed, so that no unknown copy can
  // share a restarted deployment's local sockets.
  for (const [id, process] of alive) {
    deps.log.warn({ deploymentId: id, pid: process.pid }, "killing a process without a deployment record");
    // A kill or clean-up that fails leaves the process as the process layer found it: said once.
    await process
      .kill()
      .catch((err: unknown) => deps.log.warn({ deploymentId: id, pid: process.pid, err }, "kill failed"));
    await process.cgroup
      ?.destroy()
      .catch((err: unknown) => deps.log.warn({ deploymentId: id, err }, "cgroup not removed"));
  }
  if (recovery.killedGroups.length > 0) {
    deps.log.warn({ groups: recovery.killedGroups }, "killed processes this runner has no record of");
  }
}

/** The deployment of a process that outlived the runner, from its record. */
function adoptable(record: AdoptionRecord, process: ManagedProcess): NodeDeployment {
  return {
    request: record.request,
    ...(record.runAs ? { runAs: record.runAs } : {}),
    process,
    cgroup: process.cgroup,
    ports: [...record.ports],
    cpus: [...record.cpus],
    addresses: [...record.addresses],
    datasets: [],
    epoch: record.epoch,
    ordersOpen: record.ordersOpen,
    patterns: new Map(),
  };
}

async function adopt(deployments: NodeDeployments, deployment: NodeDeployment): Promise<void> {
  const id = deployment.request.deploymentId;
  deployments.pinning.restore(id, deployment.cpus);
  // The new post office binds the same local paths; the process's sockets reconnect to them.
  // Its order path stays closed until the first lease, then takes the recorded command.
  await rebuildDeployment(deployments.spawnContext, deployment);
  deployments.watchExit(deployment);
  deployments.spawnContext.deps.log.info(
    { deploymentId: id, pid: deployment.process?.pid },
    "re-adopted a process that outlived the runner",
  );
}

/**
 * A process that outlived the runner but cannot be re-adopted (its port is outside a narrowed
 * range, its cores are gone, its sockets cannot be bound): it cannot be supervised, so it is
 * killed and everything it held freed, and the runner starts without it (the orchestrator, which
 * does not see it in the Register, starts it again). One bad record must not keep the runner down.
 */
async function abandon(deployments: NodeDeployments, d: NodeDeployment, err: unknown): Promise<void> {
  const log = deployments.spawnContext.deps.log;
  const process = d.process;
  const id = d.request.deploymentId;
  log.error(
    { deploymentId: id, pid: process?.pid, err: HiveError.from(err).message },
    "could not re-adopt a process that outlived the runner: it is killed",
  );
  deployments.forget(id);
  await process
    ?.kill()
    .catch((killErr: unknown) =>
      log.warn({ deploymentId: id, pid: process.pid, err: killErr }, "kill failed"),
    );
  d.final = await process?.exited;
  await deployments.release(d);
}

/**
 * Rebuilds what a re-adopted process had: its ports (so they are not handed out again), its
 * datasets pinned again (so none is evicted under it) and its local sockets (the post office binds
 * the same paths again; the process's ZeroMQ sockets reconnect to them by themselves), with its
 * accounts and its commanded order-path state from the record. What it takes is on `d` as soon as
 * it is taken, so that a failure part-way is undone by releasing `d`.
 */
async function rebuildDeployment(ctx: SpawnContext, d: NodeDeployment): Promise<void> {
  const id = d.request.deploymentId;
  const sockets = d.request.sockets.map(fromProtoSocket);
  d.patterns = consumedPatterns(sockets);
  // Its uid first: nobody else may be handed it while it lives. A runner that is no longer root
  // (or whose range moved away from it) cannot keep it apart: it is not re-adopted.
  if (d.runAs !== undefined) {
    if (ctx.deps.uids === undefined)
      throw new HiveError(
        "failed_precondition",
        `it runs as uid ${d.runAs.uid}, and this runner is not root: it could not keep that uid apart`,
      );
    ctx.deps.uids.reserve(id, d.runAs);
  }
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
    rateLimit: rateLimitOf(d.request),
    ...(d.runAs ? { runAs: d.runAs } : {}),
  });
}
