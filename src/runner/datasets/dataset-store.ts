/**
 * What the rest of the runner sees of the datasets held in RAM: the {@link DatasetStore}
 * interface, implemented by the real DatasetCache and by FakeDatasetCache for tests of logic
 * elsewhere (the process supervisor, the heartbeat).
 */
import type { HotDataset } from "../../domain/dataset.ts";

/** A dataset to load: its id, version and where to copy it from (a DatasetSpec fits). */
export interface DatasetSource {
  readonly id: string;
  readonly version: string;
  /** A file or a directory on this node (or a shared mount). */
  readonly source: string;
}

/** Options of a load. */
export interface LoadOptions {
  /**
   * Called with the bytes copied so far and the total: once at the start, at least every
   * progress step (64 MiB by default) and once at the end. Must not throw.
   */
  readonly onProgress?: (loadedBytes: number, totalBytes: number) => void;
  /** Stops waiting; the load itself stops when nobody else waits for it, leaving nothing behind. */
  readonly signal?: AbortSignal;
}

/** Options of an acquire: a load's, plus where to load from if the dataset is not hot. */
export interface AcquireOptions extends LoadOptions {
  readonly source?: string;
}

/** A dataset in RAM: the path to hand to a process, and its size. */
export interface LoadedDataset {
  /** The copied file (for a file source) or directory (for a directory source). */
  readonly path: string;
  readonly bytes: number;
}

/** Whether a hot dataset is used by a running process (and so may not be evicted). */
export type HotDatasetState = "idle" | "in_use";

/** A hot dataset as heartbeats and `hive datasets` show it (a domain HotDataset and more). */
export interface CachedDataset extends HotDataset {
  readonly path: string;
  readonly state: HotDatasetState;
  /** How many acquires are not released yet. */
  readonly users: number;
}

/** A dataset being copied into RAM. */
export interface LoadingDataset {
  readonly id: string;
  readonly version: string;
  readonly loadedBytes: number;
  /** Undefined until the source has been measured. */
  readonly totalBytes: number | undefined;
}

/** Why a dataset left RAM. */
export type EvictionReason =
  /** evict() was called (the orchestrator's DatasetEvict). */
  | "requested"
  /** Least recently used and idle, to make room for another load. */
  | "pressure"
  /** Found at start-up beyond the (possibly lowered) budget. */
  | "over_budget";

/** A change of a dataset, for the runner's DatasetStatus messages; mirrors the protocol's states. */
export type DatasetEvent =
  | {
      readonly type: "loading";
      readonly id: string;
      readonly version: string;
      readonly loadedBytes: number;
      readonly totalBytes: number;
    }
  | {
      readonly type: "hot";
      readonly id: string;
      readonly version: string;
      readonly bytes: number;
      readonly path: string;
    }
  | {
      readonly type: "evicted";
      readonly id: string;
      readonly version: string;
      readonly bytes: number;
      readonly reason: EvictionReason;
    }
  | { readonly type: "failed"; readonly id: string; readonly version: string; readonly error: unknown };

/** Datasets held hot in RAM under a memory budget. */
export interface DatasetStore {
  /** Loads a dataset (or returns it if hot) and marks it recently used; does not pin it. */
  load(spec: DatasetSource, options?: LoadOptions): Promise<LoadedDataset>;
  /** Pins a dataset for a running process, loading it first from `options.source` if needed. */
  acquire(id: string, version: string, options?: AcquireOptions): Promise<LoadedDataset>;
  /** Unpins what acquire pinned. */
  release(id: string, version: string): void;
  /** Drops an idle dataset from RAM; false if it was not hot; throws if in use or loading. */
  evict(id: string, version: string): Promise<boolean>;
  /** The hot datasets with their sizes and states, sorted by id and version. */
  hot(): CachedDataset[];
  /** The datasets being loaded, with their progress. */
  loading(): LoadingDataset[];
  /**
   * Takes over complete datasets a previous run left in RAM and removes incomplete ones; if the
   * budget was lowered, drops the oldest loaded, never one in `inUse` (the datasets of processes
   * that outlived the previous runner, which it re-adopts).
   */
  adoptExisting(options?: {
    readonly inUse?: readonly Pick<DatasetSource, "id" | "version">[];
  }): Promise<CachedDataset[]>;
  /** Stops every load in progress (leaving no partial copy); hot datasets stay in RAM. */
  close(): Promise<void>;
}
