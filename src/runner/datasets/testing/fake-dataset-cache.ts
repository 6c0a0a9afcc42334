/**
 * A DatasetStore for tests of logic elsewhere (the process supervisor, heartbeats): datasets load
 * at once from sources the test declares, with no files and no budget. It records every load so
 * a test can say what was asked for.
 */
import { ErrorCode, HiveError } from "../../../core/hive-error.ts";
import type {
  AcquireOptions,
  CachedDataset,
  DatasetSource,
  DatasetStore,
  LoadedDataset,
  LoadingDataset,
  LoadOptions,
} from "../dataset-store.ts";

interface FakeEntry {
  readonly id: string;
  readonly version: string;
  readonly bytes: number;
  users: number;
}

/** The fake. Sources are declared with {@link FakeDatasetCache.addSource}. */
export class FakeDatasetCache implements DatasetStore {
  /** Every dataset loaded (not those already hot), in order. */
  readonly loads: DatasetSource[] = [];
  private readonly sources = new Map<string, number>();
  private readonly entries = new Map<string, FakeEntry>();
  private closed = false;

  constructor(readonly dir = "/fake/datasets") {}

  /** Declares a source path and the size of what it holds. */
  addSource(source: string, bytes: number): this {
    this.sources.set(source, bytes);
    return this;
  }

  load(spec: DatasetSource, options: LoadOptions = {}): Promise<LoadedDataset> {
    try {
      return Promise.resolve(this.loadNow(spec, options));
    } catch (err) {
      return Promise.reject(HiveError.from(err));
    }
  }

  async acquire(id: string, version: string, options: AcquireOptions = {}): Promise<LoadedDataset> {
    const hot = this.entries.get(key(id, version));
    if (hot === undefined && options.source === undefined) {
      throw new HiveError(
        ErrorCode.NotFound,
        `dataset ${key(id, version)} is not hot and no source was given`,
      );
    }
    const loaded = await this.load({ id, version, source: options.source ?? "" }, options);
    const entry = this.entries.get(key(id, version));
    if (entry !== undefined) entry.users++;
    return loaded;
  }

  release(id: string, version: string): void {
    const entry = this.entries.get(key(id, version));
    if (entry === undefined || entry.users === 0) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `cannot release dataset ${key(id, version)}: not in use`,
      );
    }
    entry.users--;
  }

  evict(id: string, version: string): Promise<boolean> {
    const entry = this.entries.get(key(id, version));
    if (entry === undefined) return Promise.resolve(false);
    if (entry.users > 0) {
      return Promise.reject(
        new HiveError(ErrorCode.FailedPrecondition, `cannot evict dataset ${key(id, version)}: it is in use`),
      );
    }
    this.entries.delete(key(id, version));
    return Promise.resolve(true);
  }

  hot(): CachedDataset[] {
    return [...this.entries.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, e]) => ({
        id: e.id,
        version: e.version,
        bytes: e.bytes,
        path: `${this.dir}/${name}`,
        state: e.users > 0 ? "in_use" : "idle",
        users: e.users,
      }));
  }

  loading(): LoadingDataset[] {
    return [];
  }

  adoptExisting(_options?: {
    readonly inUse?: readonly Pick<DatasetSource, "id" | "version">[];
  }): Promise<CachedDataset[]> {
    return Promise.resolve(this.hot());
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private loadNow(spec: DatasetSource, options: LoadOptions): LoadedDataset {
    if (this.closed) throw new HiveError(ErrorCode.FailedPrecondition, "the fake dataset cache is closed");
    options.signal?.throwIfAborted();
    const name = key(spec.id, spec.version);
    let entry = this.entries.get(name);
    if (entry === undefined) {
      const bytes = this.sources.get(spec.source);
      if (bytes === undefined) {
        throw new HiveError(
          ErrorCode.NotFound,
          `cannot load dataset ${name}: its source ${spec.source} does not exist`,
        );
      }
      this.loads.push({ id: spec.id, version: spec.version, source: spec.source });
      entry = { id: spec.id, version: spec.version, bytes, users: 0 };
      this.entries.set(name, entry);
      options.onProgress?.(0, bytes);
    }
    options.onProgress?.(entry.bytes, entry.bytes);
    return { path: `${this.dir}/${name}`, bytes: entry.bytes };
  }
}

function key(id: string, version: string): string {
  return `${id}@${encodeURIComponent(version)}`;
}
