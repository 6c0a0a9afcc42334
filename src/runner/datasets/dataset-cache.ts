/**
 * Datasets hot in RAM: copied from their source into a RAM-backed directory (tmpfs), kept under
 * a memory budget by evicting the least recently used idle ones, pinned while processes use them.
 *
 * Lifecycle of one dataset in the cache:
 *
 *   (absent) ──load/acquire──▶ loading ──copied, renamed, manifest written──▶ hot ──evict──▶ (absent)
 *                                 │                                          acquire ⇅ release
 *                                 └──failed, or every waiter gave up (partial copy removed)──▶ (absent)
 *
 * Ordering rules:
 * - the budget is reserved when a load is admitted, before any byte is copied; admissions and
 *   evictions run one at a time, so two loads never both count on the same room;
 * - a dataset that is loading or in use (acquired and not released) is never evicted;
 * - a load is shared by everyone asking for the same id@version while it runs, and stops only
 *   when every one of them has given up (load-job.ts);
 * - a dataset is hot only after its copy has been renamed into place and its manifest written
 *   (dataset-copy.ts), so neither this runner nor the next one sees a half-loaded dataset.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { formatBytes } from "../../core/units.ts";
import { adoptDatasets } from "./adopt-datasets.ts";
import { describeNoRoom, planAdmission } from "./admission.ts";
import {
  compileDatasetCacheOptions,
  type CompiledDatasetCacheOptions,
  type DatasetCacheOptions,
} from "./dataset-cache-options.ts";
import { copyDataset } from "./dataset-copy.ts";
import type { FilesystemInfo } from "./dataset-fs.ts";
import { datasetName, datasetPaths, entryPath } from "./dataset-layout.ts";
import type {
  AcquireOptions,
  CachedDataset,
  DatasetEvent,
  DatasetSource,
  DatasetStore,
  EvictionReason,
  LoadedDataset,
  LoadingDataset,
  LoadOptions,
} from "./dataset-store.ts";
import { LoadJob } from "./load-job.ts";

/** One dataset of the cache. */
interface Entry {
  readonly name: string;
  readonly id: string;
  readonly version: string;
  state: "loading" | "hot";
  /** Bytes held: reserved while loading (0 until admitted), copied once hot. */
  bytes: number;
  /** The path handed to processes (set once hot). */
  path: string;
  /** Acquires not yet released. */
  users: number;
  /** Order of last use: a higher number was used more recently. */
  lastUse: number;
  /** Set while loading. */
  job: LoadJob | undefined;
}

/** The real dataset cache; see the file comment for its lifecycle and ordering rules. */
export class DatasetCache implements DatasetStore {
  /** The cache directory. */
  readonly dir: string;
  /** The most bytes of datasets kept in RAM. */
  readonly budgetBytes: number;
  private readonly options: CompiledDatasetCacheOptions;
  private readonly entries = new Map<string, Entry>();
  private tick = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: DatasetCacheOptions) {
    this.options = compileDatasetCacheOptions(options);
    this.dir = this.options.dir;
    this.budgetBytes = this.options.budgetBytes;
  }

  /** Loads a dataset (or returns it if hot) and marks it recently used; does not pin it. */
  async load(spec: DatasetSource, options: LoadOptions = {}): Promise<LoadedDataset> {
    const name = datasetName(spec.id, spec.version);
    let entry = await this.entryFor(name, spec, options);
    while (!this.current(entry)) entry = await this.entryFor(name, spec, options);
    return entry.job === undefined ? this.hit(entry, options) : entry.job.join(options);
  }

  /** Pins a dataset for a running process, loading it first from `options.source` if needed. */
  async acquire(id: string, version: string, options: AcquireOptions = {}): Promise<LoadedDataset> {
    const name = datasetName(id, version);
    const spec = { id, version, source: options.source };
    let entry = await this.entryFor(name, spec, options);
    while (!this.current(entry)) entry = await this.entryFor(name, spec, options);
    // Pinned at once, and before waiting, so that it cannot be evicted between becoming hot and
    // being used.
    entry.users++;
    if (entry.job === undefined) return this.hit(entry, options);
    try {
      return await entry.job.join(options);
    } catch (err) {
      if (this.entries.get(entry.name) === entry) entry.users--;
      throw err;
    }
  }

  /** Unpins what acquire pinned, and marks the dataset recently used. */
  release(id: string, version: string): void {
    const name = datasetName(id, version);
    const entry = this.entries.get(name);
    if (entry === undefined || entry.users === 0) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `cannot release dataset ${name} in ${this.dir}: it is not in use (expected a matching acquire)`,
      );
    }
    entry.users--;
    this.touch(entry);
  }

  /** Drops an idle dataset from RAM; false if it was not there; throws if in use or loading. */
  async evict(id: string, version: string): Promise<boolean> {
    this.assertOpen();
    const name = datasetName(id, version);
    return this.serialise(async () => {
      const entry = this.entries.get(name);
      if (entry === undefined) return false;
      if (entry.state === "loading" || entry.users > 0) {
        const why =
          entry.state === "loading" ? "it is being loaded" : `it is in use by ${entry.users} process(es)`;
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `cannot evict dataset ${name} from ${this.dir}: ${why} (expected an idle hot dataset)`,
        );
      }
      await this.drop(entry, "requested");
      return true;
    });
  }

  /** The hot datasets with their sizes and states, sorted by name. */
  hot(): CachedDataset[] {
    return [...this.entries.values()]
      .filter((e) => e.state === "hot")
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((e) => ({
        id: e.id,
        version: e.version,
        bytes: e.bytes,
        path: e.path,
        state: e.users > 0 ? "in_use" : "idle",
        users: e.users,
      }));
  }

  /** The datasets being loaded, with their progress. */
  loading(): LoadingDataset[] {
    return [...this.entries.values()].flatMap((e) =>
      e.job === undefined
        ? []
        : [{ id: e.id, version: e.version, loadedBytes: e.job.loadedBytes, totalBytes: e.job.totalBytes }],
    );
  }

  /** Bytes held in RAM or reserved by loads in progress. */
  usedBytes(): number {
    let used = 0;
    for (const e of this.entries.values()) used += e.bytes;
    return used;
  }

  /** Free space and kind of the cache directory's filesystem (a runner warns if not RAM-backed). */
  async storage(): Promise<FilesystemInfo> {
    await this.options.fs.mkdir(this.dir);
    return this.options.fs.filesystem(this.dir);
  }

  /**
   * Takes over the complete datasets a previous run left in the directory (a tmpfs survives a
   * runner restart, not a reboot) and removes incomplete ones. Must run before any load. If they
   * exceed the budget (it was lowered), the oldest loaded are evicted.
   */
  async adoptExisting(
    options: { readonly inUse?: readonly Pick<DatasetSource, "id" | "version">[] } = {},
  ): Promise<CachedDataset[]> {
    this.assertOpen();
    if (this.entries.size > 0) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `cannot adopt the datasets in ${this.dir}: ${this.entries.size} dataset(s) are loaded already ` +
          `(expected adoptExisting() right after start, before any load)`,
      );
    }
    return this.serialise(async () => {
      const found = await adoptDatasets(this.options.fs, this.dir);
      for (const { name, manifest } of found) {
        const path = entryPath(datasetPaths(this.dir, name).dir, manifest.entry);
        const { id, version, bytes } = manifest;
        this.entries.set(name, {
          name,
          id,
          version,
          state: "hot",
          bytes,
          path,
          users: 0,
          lastUse: ++this.tick,
          job: undefined,
        });
      }
      // The budget may have been lowered since: the oldest loaded go first, but never one that a
      // process still reads (it would lose files it has not opened yet).
      const inUse = (id: string, version: string) =>
        options.inUse?.some((d) => d.id === id && d.version === version) === true;
      for (const { name, manifest } of found) {
        if (this.usedBytes() <= this.budgetBytes) break;
        const entry = this.entries.get(name);
        if (entry !== undefined && !inUse(manifest.id, manifest.version))
          await this.drop(entry, "over_budget");
      }
      const hot = this.hot();
      for (const e of hot)
        this.emit({ type: "hot", id: e.id, version: e.version, bytes: e.bytes, path: e.path });
      return hot;
    });
  }

  /** Stops every load in progress (leaving no partial copy) and refuses new calls; hot datasets stay. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const reason = new HiveError(
        ErrorCode.FailedPrecondition,
        `the dataset cache in ${this.dir} was closed`,
      );
      for (const e of this.entries.values()) e.job?.controller.abort(reason);
    }
    const jobs = [...this.entries.values()].flatMap((e) => (e.job === undefined ? [] : [e.job.settled()]));
    await Promise.allSettled([...jobs, this.tail]);
  }

  /** Closes the cache and deletes its whole directory: for tests and clean-up tools only. */
  async removeAll(): Promise<void> {
    await this.close();
    this.entries.clear();
    await this.options.fs.remove(this.dir);
  }

  // The entry to use: a hot or loading one, or a new load if a source is given. A load being
  // aborted is let finish first, so that a new one never races its clean-up; and since other
  // work runs while we wait, the table is looked at again after every wait.
  private async entryFor(
    name: string,
    spec: { id: string; version: string; source?: string | undefined },
    options: LoadOptions,
  ): Promise<Entry> {
    for (;;) {
      this.assertOpen();
      options.signal?.throwIfAborted();
      const entry = this.entries.get(name);
      if (entry === undefined) {
        if (spec.source !== undefined) return this.start(name, { ...spec, source: spec.source });
        throw new HiveError(
          ErrorCode.NotFound,
          `dataset ${name} is not in RAM in ${this.dir} and no source was given to load it from ` +
            `(expected a hot dataset, or a source path)`,
        );
      }
      if (entry.job === undefined || !entry.job.signal.aborted) return entry;
      await entry.job.settled();
    }
  }

  // Whether an entry returned by entryFor is still good once the caller has resumed: other work
  // ran in between. A hot dataset may have been evicted; a load may have been given up by all its
  // waiters (then it is waited out and looked up again). A load that failed is good: joining it
  // gives its outcome.
  private current(entry: Entry): boolean {
    if (entry.job !== undefined) return !entry.job.signal.aborted;
    return this.entries.get(entry.name) === entry;
  }

  private hit(entry: Entry, options: LoadOptions): LoadedDataset {
    this.touch(entry);
    options.onProgress?.(entry.bytes, entry.bytes);
    return { path: entry.path, bytes: entry.bytes };
  }

  private start(name: string, spec: DatasetSource): Entry {
    const { id, version } = spec;
    const job = new LoadJob(this.options.progressStepBytes, (loadedBytes, totalBytes) =>
      this.emit({ type: "loading", id, version, loadedBytes, totalBytes }),
    );
    const entry: Entry = {
      name,
      id,
      version,
      state: "loading",
      bytes: 0,
      path: "",
      users: 0,
      lastUse: ++this.tick,
      job,
    };
    this.entries.set(name, entry);
    job.start((signal) => this.runLoad(entry, job, spec, signal));
    return entry;
  }

  private async runLoad(
    entry: Entry,
    job: LoadJob,
    spec: DatasetSource,
    signal: AbortSignal,
  ): Promise<LoadedDataset> {
    const { fs } = this.options;
    try {
      await fs.mkdir(this.dir);
      const tree = await fs.scan(spec.source);
      if (tree === undefined) {
        throw new HiveError(
          ErrorCode.NotFound,
          `cannot load dataset ${entry.name}: its source ${spec.source} does not exist ` +
            `(expected a file or a directory readable by the runner)`,
        );
      }
      signal.throwIfAborted();
      const total = tree.files.reduce((sum, f) => sum + f.bytes, 0);
      job.begin(total);
      await this.serialise(() => this.admit(entry, total, signal));
      const loaded = await copyDataset({
        fs,
        dir: this.dir,
        name: entry.name,
        id: entry.id,
        version: entry.version,
        source: spec.source,
        tree,
        onBytes: (bytes) => job.add(bytes),
        signal,
      });
      job.end();
      entry.state = "hot";
      entry.bytes = loaded.bytes;
      entry.path = loaded.path;
      entry.job = undefined;
      entry.lastUse = ++this.tick;
      this.emit({ type: "hot", id: entry.id, version: entry.version, ...loaded });
      return loaded;
    } catch (err) {
      const error: unknown = signal.aborted ? signal.reason : err;
      if (this.entries.get(entry.name) === entry) this.entries.delete(entry.name);
      this.emit({ type: "failed", id: entry.id, version: entry.version, error });
      throw error;
    }
  }

  // Makes room for `size` bytes and reserves them; runs serialised. Plans again after every
  // eviction, since a dataset may have been acquired meanwhile.
  private async admit(entry: Entry, size: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const others = [...this.entries.values()].filter((e) => e !== entry);
      const plan = planAdmission(others, size, this.budgetBytes);
      if (!plan.fits) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          describeNoRoom(entry.name, size, this.budgetBytes, this.dir, plan),
        );
      }
      const victim = plan.victims[0];
      if (victim === undefined) break;
      const victimEntry = this.entries.get(victim.name);
      if (victimEntry !== undefined) await this.drop(victimEntry, "pressure");
    }
    // The filesystem may be smaller than the budget, or shared: check what it really has left,
    // minus what admitted loads have still to write.
    const { freeBytes } = await this.options.fs.filesystem(this.dir);
    let pending = 0;
    for (const e of this.entries.values())
      if (e !== entry && e.job !== undefined) pending += e.bytes - e.job.loadedBytes;
    if (freeBytes - pending < size) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `cannot load dataset ${entry.name} (${formatBytes(size)}): the filesystem of ${this.dir} has ` +
          `${formatBytes(freeBytes)} free and ${formatBytes(pending)} of it is promised to loads in progress ` +
          `(expected a tmpfs at least as large as the dataset budget, ${formatBytes(this.budgetBytes)})`,
      );
    }
    entry.bytes = size;
  }

  // Removes a hot dataset from the table, then from RAM: manifest first, so that a crash half-way
  // leaves an incomplete dataset (removed at the next start), never a complete-looking torn one.
  private async drop(entry: Entry, reason: EvictionReason): Promise<void> {
    this.entries.delete(entry.name);
    const paths = datasetPaths(this.dir, entry.name);
    await this.options.fs.remove(paths.manifest);
    await this.options.fs.remove(paths.dir);
    this.emit({ type: "evicted", id: entry.id, version: entry.version, bytes: entry.bytes, reason });
  }

  private emit(event: DatasetEvent): void {
    this.options.onEvent(event);
  }

  private touch(entry: Entry): void {
    entry.lastUse = ++this.tick;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new HiveError(ErrorCode.FailedPrecondition, `the dataset cache in ${this.dir} is closed`);
    }
  }

  // Runs `task` after every task queued before it has settled, whatever their outcome.
  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
