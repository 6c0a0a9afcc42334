/**
 * Datasets hot in RAM for backtests. Start with `dataset-cache.ts` (its lifecycle diagram and
 * ordering rules), behind the `DatasetStore` seam of `dataset-store.ts`; `dataset-commands.ts`
 * carries out the orchestrator's DatasetLoad and DatasetEvict. Fakes are in `testing/`.
 */
export { DatasetCache } from "./dataset-cache.ts";
export {
  compileDatasetCacheOptions,
  defaultDatasetDir,
  DEFAULT_PROGRESS_STEP_BYTES,
  type DatasetCacheOptions,
  type CompiledDatasetCacheOptions,
} from "./dataset-cache-options.ts";
export type {
  DatasetStore,
  DatasetSource,
  LoadOptions,
  AcquireOptions,
  LoadedDataset,
  CachedDataset,
  HotDatasetState,
  LoadingDataset,
  DatasetEvent,
  EvictionReason,
} from "./dataset-store.ts";
export {
  NodeDatasetFs,
  type DatasetFs,
  type SourceTree,
  type SourceFile,
  type FilesystemInfo,
} from "./dataset-fs.ts";
export { datasetName, parseDatasetName, type DatasetManifest } from "./dataset-layout.ts";
export { planAdmission, type Admission, type Resident } from "./admission.ts";
