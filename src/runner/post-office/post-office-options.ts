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

/**
 * The largest order frame a strategy may send, by default: 64 KiB. A valid order is a few hundred
 * bytes (docs/strategies.md: seven fields; the gateway refuses an account, symbol or id over 128
 * characters, so its envelope stays under 4 KiB even with every character escaped), so this is
 * over ten times the largest one that can trade, while a strategy bug can no longer make the
 * runner's main thread read and parse megabytes. libzmq enforces it (ZMQ_MAXMSGSIZE, per frame)
 * before the frame is read: a bigger one closes the strategy's connection, and is never parsed.
 */
export const DEFAULT_MAX_ORDER_BYTES = 64 * 1024;

/** The smallest order limit accepted: below it, valid orders with long names would be cut off. */
export const MIN_MAX_ORDER_BYTES = 4 * 1024;

/**
 * A gateway's reply frame may be this many times the order limit: a reply echoes at most the
 * order's account and id and a reason that cuts the values it describes (replies.ts).
 */
export const REPLY_BYTES_PER_ORDER_BYTE = 4;

/**
 * The largest frame, and message, a market-data feeder may send the relay, by default: 256 MiB,
 * the relay's limit before it became configuration (a snapshot of a book can be large).
 */
export const DEFAULT_MAX_MARKET_DATA_BYTES = 256 * 1024 * 1024;

/** The post office's size limits; see each default. */
export interface PostOfficeLimits {
  /** The largest order frame a strategy may send; default {@link DEFAULT_MAX_ORDER_BYTES}. */
  readonly maxOrderBytes?: number;
  /** The largest frame a market-data feeder may send; default {@link DEFAULT_MAX_MARKET_DATA_BYTES}. */
  readonly maxMarketDataFrameBytes?: number;
  /** The largest message (all frames) a feeder may send; default {@link DEFAULT_MAX_MARKET_DATA_BYTES}. */
  readonly maxMarketDataMessageBytes?: number;
}

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
  /** Size limits on what strategies and feeders send; see each default. */
  readonly limits?: PostOfficeLimits;
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
  readonly limits: Required<PostOfficeLimits>;
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
    limits: compileLimits(options.limits ?? {}),
    runDir: options.runDir,
    log: options.log ?? silentLog,
    highWaterMark,
    now: options.now ?? Date.now,
    curveKeyPair: options.curveKeyPair ?? generateCurveKeyPair(),
    clock: options.clock ?? systemClock,
    maxOrderQueueMs,
  };
}

/** Fills the limits' defaults; throws HiveError InvalidArgument naming the field and what is expected. */
export function compileLimits(limits: PostOfficeLimits): Required<PostOfficeLimits> {
  const out = {
    maxOrderBytes: limits.maxOrderBytes ?? DEFAULT_MAX_ORDER_BYTES,
    maxMarketDataFrameBytes: limits.maxMarketDataFrameBytes ?? DEFAULT_MAX_MARKET_DATA_BYTES,
    maxMarketDataMessageBytes: limits.maxMarketDataMessageBytes ?? DEFAULT_MAX_MARKET_DATA_BYTES,
  };
  const wholeBytes = (field: string, value: number, min: number, what = String(min)) => {
    // libzmq takes the limit as a signed 64-bit number; a JavaScript safe integer always fits.
    if (!Number.isSafeInteger(value) || value < min)
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `post office limits.${field} ${value}: expected a whole number of bytes of at least ${what}`,
      );
  };
  wholeBytes("maxOrderBytes", out.maxOrderBytes, MIN_MAX_ORDER_BYTES);
  wholeBytes("maxMarketDataFrameBytes", out.maxMarketDataFrameBytes, 1024);
  wholeBytes(
    "maxMarketDataMessageBytes",
    out.maxMarketDataMessageBytes,
    out.maxMarketDataFrameBytes,
    `maxMarketDataFrameBytes (${out.maxMarketDataFrameBytes})`,
  );
  return out;
}
