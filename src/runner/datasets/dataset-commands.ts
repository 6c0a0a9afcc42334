/**
 * The orchestrator's dataset commands (DatasetLoad, DatasetEvict) carried out on the store, each
 * reported as it goes: loading with progress, then hot, evicted or failed.
 */
import { DatasetState, type DatasetEvict, type DatasetLoad } from "../../protocol/index.ts";
import type { DatasetStore } from "./dataset-store.ts";

/** A dataset's state to report to the orchestrator. */
export interface DatasetStatusReport {
  readonly id: string;
  readonly version: string;
  readonly state: DatasetState;
  readonly loadedBytes?: number;
  readonly totalBytes?: number;
  /** Why it failed (FAILED only). */
  readonly error?: unknown;
}

/** Loads a dataset into RAM, reporting progress; a failure is reported, not thrown. */
export async function loadDataset(
  store: DatasetStore,
  r: DatasetLoad,
  report: (status: DatasetStatusReport) => void,
): Promise<void> {
  const dataset = { id: r.id, version: r.version };
  report({ ...dataset, state: DatasetState.LOADING, loadedBytes: 0, totalBytes: Number(r.sizeBytes) });
  try {
    const loaded = await store.load(
      { ...dataset, source: r.sourcePath },
      {
        onProgress: (loadedBytes, totalBytes) =>
          report({ ...dataset, state: DatasetState.LOADING, loadedBytes, totalBytes }),
      },
    );
    report({ ...dataset, state: DatasetState.HOT, loadedBytes: loaded.bytes, totalBytes: loaded.bytes });
  } catch (err) {
    report({ ...dataset, state: DatasetState.FAILED, error: err });
  }
}

/** Evicts a dataset from RAM; reported evicted, or failed with the reason. */
export async function evictDataset(
  store: DatasetStore,
  r: DatasetEvict,
  report: (status: DatasetStatusReport) => void,
): Promise<void> {
  const dataset = { id: r.id, version: r.version };
  const evicted = await store.evict(r.id, r.version).catch((err: unknown) => {
    report({ ...dataset, state: DatasetState.FAILED, error: err });
    return undefined;
  });
  if (evicted !== undefined) report({ ...dataset, state: DatasetState.EVICTED });
}
