/**
 * One load of a dataset in progress, shared by everyone who asked for it: its progress, its
 * waiters, and the rule for giving up — a waiter whose signal aborts stops waiting at once; when
 * the last one gives up the load itself is aborted, and that last waiter returns only once the
 * load has settled (its partial copy removed), so it never observes a half-written directory.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { LoadedDataset, LoadOptions } from "./dataset-store.ts";

type ProgressListener = (loadedBytes: number, totalBytes: number) => void;

/** A shared load; the cache creates one per dataset being loaded. */
export class LoadJob {
  /** Aborted when the last waiter gives up, or the cache closes. */
  readonly controller = new AbortController();
  /** Bytes copied so far. */
  loadedBytes = 0;
  /** The source's size; undefined until measured. */
  totalBytes: number | undefined;
  private done: Promise<LoadedDataset> | undefined;
  private waiters = 0;
  private readonly listeners = new Set<ProgressListener>();
  // The loaded bytes last reported; -1 before the first report.
  private reportedBytes = -1;

  constructor(
    private readonly progressStepBytes: number,
    /** Called with every progress report (after the listeners). */
    private readonly onReport: (loadedBytes: number, totalBytes: number) => void,
  ) {}

  /** The load's signal. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Starts the work; `run` receives the job's signal. Its outcome goes to every waiter. */
  start(run: (signal: AbortSignal) => Promise<LoadedDataset>): void {
    const done = run(this.signal);
    // Waiters get the outcome through join(); this only marks the promise as handled.
    done.catch(() => undefined);
    this.done = done;
  }

  /** Settles when the work has, whatever the outcome. */
  async settled(): Promise<void> {
    await this.done?.catch(() => undefined);
  }

  /** Waits for the load as one of its waiters. */
  async join(options: LoadOptions): Promise<LoadedDataset> {
    const done = this.done;
    if (done === undefined)
      throw new HiveError(ErrorCode.Internal, "LoadJob.join() was called before start()");
    const { signal, onProgress } = options;
    if (onProgress !== undefined) {
      this.listeners.add(onProgress);
      if (this.totalBytes !== undefined && this.reportedBytes >= 0)
        onProgress(this.reportedBytes, this.totalBytes);
    }
    this.waiters++;
    let waiting = true;
    let onAbort: (() => void) | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      if (signal === undefined) return;
      onAbort = () => {
        waiting = false;
        if (onProgress !== undefined) this.listeners.delete(onProgress);
        const rejectNow = (): void => reject(signal.reason as Error);
        if (--this.waiters > 0) return rejectNow();
        this.controller.abort(signal.reason);
        done.then(rejectNow, rejectNow);
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([done, gaveUp]);
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
      if (waiting) this.waiters--;
      if (onProgress !== undefined) this.listeners.delete(onProgress);
    }
  }

  /** Sets the total once the source is measured, and reports the start (0 of total). */
  begin(totalBytes: number): void {
    this.totalBytes = totalBytes;
    this.report(true);
  }

  /** Counts copied bytes; reports when a progress step has been copied since the last report. */
  add(bytes: number): void {
    this.loadedBytes += bytes;
    this.report(false);
  }

  /** Reports the end (all of total). */
  end(): void {
    this.report(true);
  }

  private report(force: boolean): void {
    if (this.totalBytes === undefined) return;
    const loaded = this.loadedBytes;
    if (loaded === this.reportedBytes) return;
    if (!force && loaded - this.reportedBytes < this.progressStepBytes) return;
    this.reportedBytes = loaded;
    // A source that grew while being copied: the total follows, so progress never passes it.
    const total = (this.totalBytes = Math.max(this.totalBytes, loaded));
    for (const listener of this.listeners) listener(loaded, total);
    this.onReport(loaded, total);
  }
}
