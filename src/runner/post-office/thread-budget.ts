/**
 * How many libuv threadpool threads the post office pins, and how large the pool must be.
 *
 * zeromq.js runs each native `Proxy` (zmq_proxy_steerable) as one libuv threadpool work item
 * that lasts as long as the proxy runs, so every running proxy pins one pool thread. The pool
 * is shared with Node itself (async fs, dns.lookup, crypto, zlib) and with zeromq.js's async
 * `bind`; when proxies hold every thread, all of those wait forever, and a proxy queued behind
 * them never starts. libuv reads `UV_THREADPOOL_SIZE` once, when the pool is first used (under
 * tsx that is before any module of ours runs), so the runner must have it in its environment
 * when the process starts: compute it with {@link recommendedThreadPoolSize}.
 *
 * Per consumed SUB socket the post office runs one stable stage, plus one route stage per
 * remote publisher (see market-data-bridge.ts); order paths (DEALER) run no proxy.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/** Proxies (pool threads) per consumed SUB socket, whatever its routing: the stable stage. */
export const STABLE_STAGE_THREADS = 1;
/** Proxies (pool threads) per remote publisher of a consumed SUB socket: its route stage. */
export const ROUTE_STAGE_THREADS_PER_REMOTE = 1;
/** Pool threads kept for Node itself and async binds: Node's own default pool size. */
export const NODE_POOL_THREADS = 4;
/** Pool threads the post office never takes, whatever it is told, so async fs cannot deadlock. */
export const MIN_FREE_POOL_THREADS = 1;
/** libuv's default pool size, used when UV_THREADPOOL_SIZE is unset or not a number. */
export const DEFAULT_THREADPOOL_SIZE = 4;
/** libuv's largest pool size; larger values are clamped to it. */
export const MAX_THREADPOOL_SIZE = 1024;

/** Pool threads one consumed SUB socket pins while routed to `remotes` publishers. */
export function subscriberThreads(remotes: number): number {
  return STABLE_STAGE_THREADS + ROUTE_STAGE_THREADS_PER_REMOTE * remotes;
}

/** What a runner expects to host, to size the pool. */
export interface ThreadPoolPlan {
  /** Consumed SUB sockets across all deployments the runner may host at once. */
  readonly subscriberSockets: number;
  /** The most remote publishers one such socket is routed to (fan-in), e.g. 2. */
  readonly remotesPerSocket: number;
}

/**
 * The `UV_THREADPOOL_SIZE` a runner should start with: every stage of every socket, plus the
 * route stages that briefly run side by side while one route moves (routes are applied one at
 * a time, new stages started before old ones stop), plus Node's own default pool.
 */
export function recommendedThreadPoolSize(plan: ThreadPoolPlan): number {
  const steady = plan.subscriberSockets * subscriberThreads(plan.remotesPerSocket);
  const transient = ROUTE_STAGE_THREADS_PER_REMOTE * plan.remotesPerSocket;
  return Math.min(MAX_THREADPOOL_SIZE, steady + transient + NODE_POOL_THREADS);
}

/** The pool size libuv uses for this process, as its environment says (set before start). */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env["UV_THREADPOOL_SIZE"];
  const n = raw === undefined ? Number.NaN : Number.parseInt(raw, 10);
  if (!Number.isFinite(n) || n < 1) return DEFAULT_THREADPOOL_SIZE;
  return Math.min(n, MAX_THREADPOOL_SIZE);
}

/**
 * Counts the pool threads the post office's proxies hold, and refuses to start one that would
 * pass its limit: a refused route is an error someone sees, a proxy queued behind a full pool is
 * silence. A budget may have a parent (the process's, {@link processThreadBudget}), which every
 * take and release also goes through, so several post offices in one process share one pool.
 */
export class ThreadBudget {
  #held = 0;

  /** `limit` is the most proxies that may run at once under this budget. */
  constructor(
    readonly limit: number,
    readonly parent?: ThreadBudget,
  ) {}

  /** A budget for a pool of `poolSize` threads, keeping {@link MIN_FREE_POOL_THREADS} free. */
  static forPool(poolSize: number = threadPoolSize()): ThreadBudget {
    return new ThreadBudget(Math.max(0, poolSize - MIN_FREE_POOL_THREADS));
  }

  /** Threads held now under this budget. */
  get held(): number {
    return this.#held;
  }

  /** Threads that may still be taken (the parent's limit included). */
  get free(): number {
    const own = this.limit - this.#held;
    return this.parent === undefined ? own : Math.min(own, this.parent.free);
  }

  /** Takes `n` threads for `what`, or throws HiveError FailedPrecondition naming the pool size. */
  take(n: number, what: string): void {
    this.check(n, what);
    this.parent?.take(n, what);
    this.#held += n;
  }

  /** Throws what {@link take} would throw, without taking anything. */
  check(n: number, what: string): void {
    if (this.#held + n > this.limit) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${what} needs ${n} more libuv pool thread(s) but ${this.#held} of the ${this.limit} the post office ` +
          `may use are held; expected the runner to start with a larger UV_THREADPOOL_SIZE (now ${threadPoolSize()}; ` +
          `see recommendedThreadPoolSize in src/runner/post-office/thread-budget.ts)`,
      );
    }
    this.parent?.check(n, what);
  }

  /** Gives back `n` threads. */
  release(n: number): void {
    const given = Math.min(n, this.#held);
    this.#held -= given;
    this.parent?.release(given);
  }
}

/** The budget of this process's libuv pool, shared by every post office in the process. */
export const processThreadBudget: ThreadBudget = ThreadBudget.forPool();
