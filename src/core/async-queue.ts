import { ErrorCode, HiveError } from "./hive-error.ts";

/**
 * An unbounded queue consumed as an async iterable: the outgoing half of a stream. Pushes made
 * before anyone iterates are kept; `close()` ends the iteration after what is queued; `fail()`
 * ends it with an error. Only one consumer.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private closed = false;
  private error: Error | undefined;

  /** Adds an item; throws if the queue is closed (a send on a finished stream is a bug upstream). */
  push(item: T): void {
    if (this.closed) throw new HiveError(ErrorCode.FailedPrecondition, "queue is closed");
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** Whether `push` would throw. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Items waiting to be consumed. */
  get size(): number {
    return this.items.length;
  }

  /** Ends the iteration once the queued items are consumed. */
  close(): void {
    this.closed = true;
    const w = this.waiter;
    if (w && this.items.length === 0) {
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  /** Ends the iteration at once with an error. */
  fail(error: unknown): void {
    this.closed = true;
    this.error =
      error instanceof Error
        ? error
        : new HiveError(ErrorCode.Internal, `queue failed: ${JSON.stringify(error)}`, { cause: error });
    this.items.length = 0;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.reject(this.error);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.error !== undefined) return Promise.reject(this.error);
        const item = this.items.shift();
        if (item !== undefined || this.items.length > 0)
          return Promise.resolve({ value: item as T, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        this.close();
        this.items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      // As a generator without a catch does: stop, and pass the error back to the caller.
      throw: (error: unknown) => {
        this.close();
        this.items.length = 0;
        return Promise.reject(error instanceof Error ? error : HiveError.from(error));
      },
    };
  }
}
