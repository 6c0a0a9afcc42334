import { existsSync } from "node:fs";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { readSecretFile } from "../core/secret-file.ts";
import { readCertificateFile, readTlsFiles, type TlsMaterial } from "../security/pki/index.ts";
import { bootstrapNodeCertificate } from "./link/node-bootstrap.ts";
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

/**
 * The runner's credentials for its link, read (and checked: keys and tokens 0600) before it
 * starts: over TLS its certificate and key, obtained first with the join token (TLS bootstrap,
 * link/node-bootstrap.ts) when there is no certificate yet; over cleartext, the join token.
 */
async function linkCredentials(
  options: CompiledRunnerOptions,
  log: Logger,
): Promise<{ tls?: TlsMaterial; joinToken?: string }> {
  const token = () =>
    options.joinTokenFile === undefined
      ? undefined
      : readSecretFile("join token file", options.joinTokenFile).trim();
  const tls = options.tls;
  if (tls === undefined) return { joinToken: token() };
  if (!existsSync(tls.cert)) {
    const joinToken = token();
    if (joinToken === undefined) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `node certificate ${tls.cert}: missing; issue one (hive ca issue node ${options.nodeId}) or give ` +
          "joinTokenFile (--join-token-file) to obtain one from the orchestrator",
      );
    }
    await bootstrapNodeCertificate({
      nodeId: options.nodeId,
      urls: options.orchestrators,
      caPem: readCertificateFile("CA certificate", tls.ca),
      joinToken,
      certFile: tls.cert,
      keyFile: tls.key,
      log,
    });
  }
  return { tls: readTlsFiles(tls) };
}

/**
 * Builds a runner on the real machine: the best cgroup driver it allows (or none, said loudly),
 * capacity and load from /proc and our own cgroup, the port range, the RAM dataset cache and the
 * ZeroMQ post office with the runner's CURVE key pair (from `curveKeyFile`, else fresh).
 * `overrides` replace any of them (tests).
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
      return new PostOffice({ runDir: options.runDir, curveKeyPair: curve.keys, log });
    })();
  const deps: RunnerDeps = {
    log,
    cgroups: overrides.cgroups ?? (await detectCgroups({ parent: options.cgroupParent })),
    launcher: overrides.launcher ?? createProcessLauncher((message, cause) => log.warn({ cause }, message)),
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
