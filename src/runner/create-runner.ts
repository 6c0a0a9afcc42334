import type { Logger } from "../core/logger.ts";
import { linkCredentials } from "./link/link-credentials.ts";
import { createLogger } from "../core/logger.ts";
import { detectCgroups } from "./cgroups/index.ts";
import { DatasetCache } from "./datasets/index.ts";
import { LoadSampler, readCapacity } from "./host/index.ts";
import { PortAllocator } from "./ports/index.ts";
import { loadCurveKeyPair } from "./post-office/curve-keys.ts";
import { PostOffice } from "./post-office/index.ts";
import { createProcessLauncher } from "./process/index.ts";
import type { CompiledRunnerOptions } from "./runner-options.ts";
import type { RunnerDeps } from "./runner-deps.ts";
import { Runner } from "./runner.ts";
import { runsAsRoot, UidAllocator } from "./uids/index.ts";

/**
 * Builds a runner on the real machine: the best cgroup driver it allows (or none, said loudly),
 * capacity and load from /proc and our own cgroup, the port range, the RAM dataset cache and the
 * ZeroMQ post office with the runner's CURVE key pair (from `curveKeyFile`, else fresh), and,
 * when it is root, a uid of its own per deployment from `deploymentUids`. `overrides` replace any
 * of them (tests; `uids: undefined` given explicitly runs every deployment as the runner).
 */
export async function createRunner(
  options: CompiledRunnerOptions,
  overrides: Partial<RunnerDeps> = {},
): Promise<Runner> {
  const log: Logger = overrides.log ?? createLogger("runner", { nodeId: options.nodeId });
  const capacity = readCapacity();
  const memoryBytes = Math.min(capacity.memoryBytes, options.capacityLimits.memoryBytes ?? Infinity);
  const postOffice =
    overrides.postOffice ??
    (() => {
      const curve = loadCurveKeyPair(options.curveKeyFile);
      log.info(
        { publicKey: curve.keys.publicKey, source: curve.source, file: options.curveKeyFile },
        "CURVE key pair",
      );
      return new PostOffice({
        runDir: options.runDir,
        curveKeyPair: curve.keys,
        log,
        maxOrderQueueMs: options.maxOrderQueueMs,
        limits: options.messageLimits,
      });
    })();
  const deps: RunnerDeps = {
    log,
    cgroups: overrides.cgroups ?? (await detectCgroups({ parent: options.cgroupParent })),
    launcher: overrides.launcher ?? createProcessLauncher((message, cause) => log.warn({ cause }, message)),
    uids:
      "uids" in overrides
        ? overrides.uids
        : runsAsRoot()
          ? new UidAllocator(options.deploymentUids)
          : undefined,
    ports:
      overrides.ports ?? new PortAllocator({ first: options.portRange.first, last: options.portRange.last }),
    datasets:
      overrides.datasets ??
      new DatasetCache({
        dir: options.datasetDir,
        // By default a quarter of the node's memory holds datasets.
        budgetBytes: options.datasetBudgetBytes ?? Math.floor(memoryBytes / 4),
      }),
    postOffice,
    machine: overrides.machine ?? { cores: capacity.cores, memoryBytes, cpus: capacity.cpus },
    load: overrides.load ?? new LoadSampler({ cpus: capacity.cpus }),
    transport: overrides.transport,
    clock: overrides.clock,
    ...(overrides.tls !== undefined || overrides.joinToken !== undefined
      ? { tls: overrides.tls, joinToken: overrides.joinToken }
      : await linkCredentials(options, log)),
  };
  return new Runner(options, deps);
}
