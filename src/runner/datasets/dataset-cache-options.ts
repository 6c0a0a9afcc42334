/** Options of the dataset cache: DatasetCacheOptions → compileDatasetCacheOptions() → compiled. */
import { join } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { NodeDatasetFs, type DatasetFs } from "./dataset-fs.ts";
import type { DatasetEvent } from "./dataset-store.ts";

/** How often a load reports progress, at least: every 64 MiB copied. */
export const DEFAULT_PROGRESS_STEP_BYTES = 64 * 2 ** 20;

/** The RAM-backed directory a node's datasets live in by default (/dev/shm is a tmpfs). */
export function defaultDatasetDir(nodeId: string): string {
  return join("/dev/shm/hive", nodeId, "datasets");
}

/** Options of a DatasetCache, as the runner's configuration gives them. */
export interface DatasetCacheOptions {
  /** The cache directory; by default {@link defaultDatasetDir} of nodeId. */
  readonly dir?: string;
  /** The node's id, for the default directory. */
  readonly nodeId?: string;
  /** The most bytes of datasets kept in RAM. */
  readonly budgetBytes: number;
  /** The filesystem; the real one by default. */
  readonly fs?: DatasetFs;
  /** Called on every change of a dataset (for DatasetStatus messages); must not throw. */
  readonly onEvent?: (event: DatasetEvent) => void;
  /** Progress is reported at least every this many bytes (64 MiB by default). */
  readonly progressStepBytes?: number;
}

/** Options with defaults filled in and checked. */
export interface CompiledDatasetCacheOptions {
  readonly dir: string;
  readonly budgetBytes: number;
  readonly fs: DatasetFs;
  readonly onEvent: (event: DatasetEvent) => void;
  readonly progressStepBytes: number;
}

/** Validates the options and fills in defaults; throws invalid_argument naming the bad field. */
export function compileDatasetCacheOptions(options: DatasetCacheOptions): CompiledDatasetCacheOptions {
  const { budgetBytes } = options;
  if (!Number.isSafeInteger(budgetBytes) || budgetBytes <= 0) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `dataset cache budgetBytes is ${budgetBytes}: expected a whole number of bytes above zero`,
    );
  }
  const step = options.progressStepBytes ?? DEFAULT_PROGRESS_STEP_BYTES;
  if (!Number.isSafeInteger(step) || step <= 0) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `dataset cache progressStepBytes is ${step}: expected a whole number of bytes above zero`,
    );
  }
  let dir = options.dir;
  if (dir === undefined) {
    if (options.nodeId === undefined || options.nodeId === "" || options.nodeId.includes("/")) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `dataset cache needs a dir or a nodeId (got nodeId ${JSON.stringify(options.nodeId)}): ` +
          `expected a node id without '/' for the default ${defaultDatasetDir("<nodeId>")}`,
      );
    }
    dir = defaultDatasetDir(options.nodeId);
  }
  return {
    dir,
    budgetBytes,
    fs: options.fs ?? new NodeDatasetFs(),
    onEvent: options.onEvent ?? (() => {}),
    progressStepBytes: step,
  };
}
