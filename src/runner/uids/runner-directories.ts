/**
 * The runner's directories and what deployments may do with them (docs/security.md, "Strategies
 * without root"), set at every start so that a directory left by an older runner is tightened:
 *
 * | directory                  | mode | a deployment                                            |
 * | -------------------------- | ---- | ------------------------------------------------------- |
 * | state (records, logs, key) | 0700 | cannot enter it                                         |
 * | run                        | 0711 | passes through to its own ipc directory, cannot list it |
 * | run/strategies             | 0711 | the same (post-office.ts)                               |
 * | run/strategies/<id>        | 0700 | its own (owned by its uid), no other can enter it       |
 * | datasets                   | 0755 | reads (files 0444), writes nothing (datasets/dataset-fs) |
 *
 * With uids, the run and dataset directories must be reachable by a deployment's uid all the way
 * down (a `mkdtemp` directory above them, 0700, is not): the runner refuses to start otherwise,
 * naming the directory, rather than have every strategy fail to connect to its sockets.
 */
import { chmod, mkdir } from "node:fs/promises";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { deniedTo } from "./access-check.ts";
import { PASS_THROUGH_DIR_MODE } from "./owned-dir.ts";
import type { UidRange } from "./uid-allocator.ts";

/** The mode of the runner's state and log directories: the runner's alone. */
export const PRIVATE_DIR_MODE = 0o700;

/** The runner's directories. */
export interface RunnerDirectories {
  readonly stateDir: string;
  readonly logDir: string;
  readonly runDir: string;
  readonly datasetDir: string;
}

/**
 * Creates the runner's directories with their modes (table above). With `uids` (the runner is
 * root), throws FailedPrecondition when a deployment's uid could not reach the run or dataset
 * directory, naming the directory that stops it.
 */
export async function prepareRunnerDirectories(
  dirs: RunnerDirectories,
  uids: UidRange | undefined,
): Promise<void> {
  for (const d of [dirs.stateDir, dirs.logDir]) {
    await mkdir(d, { recursive: true, mode: PRIVATE_DIR_MODE });
    await chmod(d, PRIVATE_DIR_MODE);
  }
  await mkdir(dirs.runDir, { recursive: true, mode: PASS_THROUGH_DIR_MODE });
  await chmod(dirs.runDir, PASS_THROUGH_DIR_MODE);
  if (uids === undefined) return;
  await mkdir(dirs.datasetDir, { recursive: true, mode: 0o755 });
  // Any uid of the range stands for all: none of them owns anything above these directories.
  const probe = { uid: uids.first, gid: uids.first };
  for (const [what, dir] of [
    ["run directory (the deployments' ipc sockets)", dirs.runDir],
    ["dataset directory", dirs.datasetDir],
  ] as const) {
    const denied = deniedTo(dir, probe, ["search"]);
    if (denied !== undefined)
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${what} ${dir} cannot be reached by the deployments' uids (${uids.first}-${uids.last}): ${denied}; ` +
          `make every directory above it searchable by others (chmod o+x), or choose another`,
      );
  }
}
