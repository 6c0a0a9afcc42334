/** The post office's options, validated and with defaults filled (XOptions → compileXOptions). */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { systemClock, type MonotonicClock } from "../../core/monotonic-clock.ts";
import { Z85_KEY, type CurveKeyPair } from "../../core/z85.ts";
import { generateCurveKeyPair } from "./curve-keys.ts";
import { type PostOfficeLog, silentLog } from "./post-office-log.ts";
import { DEFAULT_MAX_ORDER_QUEUE_MS } from "./queue-watch.ts";

/** The bounds of `maxOrderQueueMs`. */
export const ORDER_QUEUE_MS_RANGE = { min: 10, max: 60_000 } as const;

/** What an order path asks of the runner's lease before it reads or sends an order. */
export interface LeaseView {
  /** Milliseconds until the lease runs out, on the post office's monotonic clock (≤ 0: none). */
  remainingMs(): number;
}

/**
 * The lease of a post office outside a runner (tests, benchmarks): always time left. A runner
 * binds its own (PostOffice.bindLease) before any deployment is added.
 */
export const NO_LEASE_CHECK: LeaseView = { remainingMs: () => Infinity };

/** Default high-water mark of every post office socket, in messages per peer and direction. */
export const DEFAULT_HIGH_WATER_MARK = 100_000;

/** What a runner gives its post office. */
export interface PostOfficeOptions {
  /** The run directory; local sockets live under `<runDir>/strategies/<deploymentId>/`. */
  readonly runDir: string;
  readonly log?: PostOfficeLog;
  /**
   * Messages that may wait for a strategy before the relay drops new market data (per strategy
   * connection), and orders queued per peer before the order path refuses; default
   * {@link DEFAULT_HIGH_WATER_MARK}. Bounds the runner's memory when a strategy stalls.
   */
  readonly highWaterMark?: number;
  /** The wall clock stamped on orders; default Date.now. */
  readonly now?: () => number;
  /** The runner's CURVE key pair, for gateways that run CURVE; default a fresh one. */
  readonly curveKeyPair?: CurveKeyPair;
  /** The monotonic clock of the lease check, queue ages and rate limits; default the system's. */
  readonly clock?: MonotonicClock;
  /**
   * The longest an order may wait in the runner's queue before it is read; older ones are refused
   * `queued-too-long` (queue-watch.ts). Default {@link DEFAULT_MAX_ORDER_QUEUE_MS}.
   */
  readonly maxOrderQueueMs?: number;
}

/** Options after validation. */
export interface CompiledPostOfficeOptions {
  readonly runDir: string;
  readonly log: PostOfficeLog;
  readonly highWaterMark: number;
  readonly now: () => number;
  readonly curveKeyPair: CurveKeyPair;
  readonly clock: MonotonicClock;
  readonly maxOrderQueueMs: number;
}

/** Validates options and fills defaults; throws HiveError InvalidArgument naming the field. */
export function compilePostOfficeOptions(options: PostOfficeOptions): CompiledPostOfficeOptions {
  if (options.runDir === "" || !options.runDir.startsWith("/")) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `post office runDir ${JSON.stringify(options.runDir)}: expected an absolute path`,
    );
  }
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  if (!Number.isInteger(highWaterMark) || highWaterMark < 1) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `post office highWaterMark ${highWaterMark}: expected a whole number of messages above zero`,
    );
  }
  const maxOrderQueueMs = options.maxOrderQueueMs ?? DEFAULT_MAX_ORDER_QUEUE_MS;
  if (
    !Number.isFinite(maxOrderQueueMs) ||
    maxOrderQueueMs < ORDER_QUEUE_MS_RANGE.min ||
    maxOrderQueueMs > ORDER_QUEUE_MS_RANGE.max
  ) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `post office maxOrderQueueMs ${maxOrderQueueMs}: expected ${ORDER_QUEUE_MS_RANGE.min} to ${ORDER_QUEUE_MS_RANGE.max} ms`,
    );
  }
  const keys = options.curveKeyPair;
  if (keys !== undefined && !(Z85_KEY.test(keys.publicKey) && Z85_KEY.test(keys.secretKey))) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      "post office curveKeyPair: expected a public and a secret key in Z85, 40 characters each",
    );
  }
  return {
    runDir: options.runDir,
    log: options.log ?? silentLog,
    highWaterMark,
    now: options.now ?? Date.now,
    curveKeyPair: options.curveKeyPair ?? generateCurveKeyPair(),
    clock: options.clock ?? systemClock,
    maxOrderQueueMs,
  };
}
