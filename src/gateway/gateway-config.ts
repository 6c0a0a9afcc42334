/**
 * The gateway's YAML file (`hive gateway --config gateway.yaml`): pre-trade risk limits, a
 * `default` block and per-account overrides, and the broker timeout. Validated with zod; errors
 * name the file, line, field and what was expected (src/domain/yaml-file.ts).
 *
 *   brokerTimeoutMs: 2000
 *   maxOrderAgeMs: 1000        # an order older than this on arrival is refused (0: never)
 *   orderIdRetentionDays: 7    # a consumed client order id is a duplicate this long (0: forever)
 *   maxOrderIdsPerAccount: 20000000     # retained ids an account may hold; past it: order-id-cap
 *   maxOrderIdsPerDeployment: 10000000  # the same, per deployment over all its accounts
 *   auditArchiveAfterDays: 7   # older audit rows move to <state>/audit-archive/ files (0: never)
 *   auditFullRefusalsPerSecond: 10  # full audit rows per (deployment, account, code) a second; the rest counted
 *   messageLimits:             # a peer sending a bigger frame is disconnected before it is read
 *     orderFrame: 64KiB        # one order envelope, on the orders sockets
 *     controlFrame: 1MiB       # one control request, on the control socket
 *     marketDataFrame: 256MiB  # one frame from a market-data publisher
 *   risk:
 *     default: { maxOrderQty: 10000, maxNotional: 5000000, maxOrdersPerSecond: 500, duplicativeWindowMs: 0 }
 *     accounts:
 *       ACC-1: { maxOrderQty: 100 }
 */
import { z } from "zod";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { byteSize } from "../domain/schema-helpers.ts";
import { readYamlFile } from "../domain/yaml-file.ts";

/** The limits applied to one account's orders. */
export interface RiskLimits {
  /** Largest quantity of one order. */
  readonly maxOrderQty: number;
  /** Largest qty × price of one order (the last price for a market order). */
  readonly maxNotional: number;
  /** Orders per second, as a token bucket holding one second's worth. */
  readonly maxOrdersPerSecond: number;
  /** An order equal to one accepted within this window (account, symbol, side, qty, type, price) is refused; 0 turns the check off. */
  readonly duplicativeWindowMs: number;
}

/**
 * Defaults for an account nobody configured: small enough that a runaway strategy is stopped,
 * large enough for a desk's ordinary flow. The duplicative check is off by default, because
 * strategies legitimately resend the same child order; turn it on per account.
 */
export const DEFAULT_RISK_LIMITS: RiskLimits = {
  maxOrderQty: 10_000,
  maxNotional: 5_000_000,
  maxOrdersPerSecond: 500,
  duplicativeWindowMs: 0,
};

/** How long the broker has to answer a submission before the order is reported `pending`. */
export const DEFAULT_BROKER_TIMEOUT_MS = 2_000;

/**
 * An order that arrives more than this after its runner stamped it (`sentAtUnixMs`) is refused
 * as `stale-order`: a partition that held it up must not make it trade seconds late. Runner and
 * gateway clocks must agree to well within this (NTP does; on one machine it is the same clock).
 */
export const DEFAULT_MAX_ORDER_AGE_MS = 1_000;

/** How long a consumed client order id is remembered, by default: a week. */
export const DEFAULT_ORDER_ID_RETENTION_DAYS = 7;

/**
 * The caps on retained (consumed, not yet forgotten) order ids: past them an order with a new id
 * is refused `order-id-cap`. They bound the gateway's disk (an id's row, its index entry and the paper
 * broker's row take about 180 bytes: 4 GB at the account cap) against a strategy that loops on fresh ids; a desk sending
 * 2.4 million orders a day keeps about 17 million ids over the default week of retention, below
 * the account cap. A deployment's cap is half its account's, so one runaway deployment leaves room
 * for the others on the account.
 */
export const DEFAULT_MAX_ORDER_IDS_PER_ACCOUNT = 20_000_000;
export const DEFAULT_MAX_ORDER_IDS_PER_DEPLOYMENT = 10_000_000;

/** How long an audit row stays in the database before it moves to the archive files, by default. */
export const DEFAULT_AUDIT_ARCHIVE_AFTER_DAYS = 7;

/**
 * Refusals of one (deployment, account, code) in one second that get a full audit row each; the
 * rest of that second's are counted in one summary row (refusal-audit.ts).
 */
export const DEFAULT_AUDIT_FULL_REFUSALS_PER_SECOND = 10;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The largest order envelope frame a runner may send, by default: 64 KiB. The runner refuses an
 * account, clientOrderId or symbol over 128 characters, so an envelope it stamps is under 5 KiB
 * even with every character escaped (docs/strategies.md shows one of about 300 bytes): this is
 * over ten times that, and stops a peer from making the gateway read megabytes per frame. libzmq
 * checks it from the frame's header (ZMQ_MAXMSGSIZE) and disconnects a peer that exceeds it.
 */
export const DEFAULT_MAX_ORDER_FRAME_BYTES = 64 * 1024;

/** The largest control request frame, by default: 1 MiB (a fence is ~300 bytes; `marketData` lists addresses). */
export const DEFAULT_MAX_CONTROL_FRAME_BYTES = 1024 * 1024;

/** The largest frame a market-data publisher may send, by default: 256 MiB, as the runner's relay. */
export const DEFAULT_MAX_MARKET_DATA_FRAME_BYTES = 256 * 1024 * 1024;

/** The smallest frame limit accepted: below it, valid orders with long names would be refused. */
export const MIN_FRAME_LIMIT_BYTES = 4 * 1024;

const frameLimit = byteSize.refine(
  (n) => Number.isSafeInteger(n) && n >= MIN_FRAME_LIMIT_BYTES,
  `a size of at least ${MIN_FRAME_LIMIT_BYTES} bytes (4KiB), such as 64KiB`,
);

const limitsSchema = z.strictObject({
  maxOrderQty: z.number().positive("a quantity above zero").optional(),
  maxNotional: z.number().positive("a notional above zero").optional(),
  maxOrdersPerSecond: z.number().positive("a rate above zero").optional(),
  duplicativeWindowMs: z.number().int("whole milliseconds").nonnegative("0 (off) or more").optional(),
});

const configSchema = z.strictObject({
  brokerTimeoutMs: z.number().int("whole milliseconds").positive("above zero").optional(),
  maxOrderAgeMs: z.number().int("whole milliseconds").nonnegative("0 (off) or more").optional(),
  orderIdRetentionDays: z.number().nonnegative("0 (forever) or more days").optional(),
  maxOrderIdsPerAccount: z.number().int("a whole number").positive("1 or more ids").optional(),
  maxOrderIdsPerDeployment: z.number().int("a whole number").positive("1 or more ids").optional(),
  auditArchiveAfterDays: z.number().nonnegative("0 (never) or more days").optional(),
  auditFullRefusalsPerSecond: z
    .number()
    .int("a whole number of rows")
    .nonnegative("0 (summary rows only) or more")
    .max(1_000_000, "at most 1,000,000")
    .optional(),
  messageLimits: z
    .strictObject({
      orderFrame: frameLimit.optional(),
      controlFrame: frameLimit.optional(),
      marketDataFrame: frameLimit.optional(),
    })
    .optional(),
  risk: z
    .strictObject({
      default: limitsSchema.optional(),
      accounts: z.record(z.string().min(1), limitsSchema).optional(),
    })
    .optional(),
});

/** Partial limits, as written in the file. */
export type RiskLimitsInput = Partial<RiskLimits>;

/** The gateway's frame size limits, in bytes. */
export interface MessageLimits {
  readonly orderFrame: number;
  readonly controlFrame: number;
  readonly marketDataFrame: number;
}

/** The configuration, with every default filled in. */
export interface GatewayConfig {
  readonly brokerTimeoutMs: number;
  /** Orders older than this on arrival are refused; 0 turns the check off. */
  readonly maxOrderAgeMs: number;
  /**
   * How long a consumed client order id stays a duplicate, counted from when the gateway first
   * saw it; 0 keeps every id forever. Orders still live are kept whatever their age.
   */
  readonly orderIdRetentionMs: number;
  /** Most ids one account may retain; a new id past it is refused `order-id-cap`. */
  readonly maxOrderIdsPerAccount: number;
  /** Most ids one deployment may retain, over every account it trades. */
  readonly maxOrderIdsPerDeployment: number;
  /**
   * Audit rows decided longer ago than this move from the database to gzipped files in
   * `<state>/audit-archive/` (audit-archive.ts); 0 keeps every row in the database.
   */
  readonly auditArchiveAfterMs: number;
  /**
   * Refusals per (deployment, account, code) and second written as full audit rows; the others
   * of that second are counted in one summary row (refusal-audit.ts). 0: summary rows only.
   */
  readonly auditFullRefusalsPerSecond: number;
  /** Frame size limits on the sockets peers write to; a bigger frame disconnects its peer unread. */
  readonly messageLimits: MessageLimits;
  readonly defaultLimits: RiskLimits;
  /** Per-account limits, already merged over the default block. */
  readonly accountLimits: ReadonlyMap<string, RiskLimits>;
}

/** The configuration of a gateway started without a file. */
export function defaultGatewayConfig(): GatewayConfig {
  return compileGatewayConfig({});
}

/** The configuration as the YAML file writes it (every field optional). */
export interface GatewayConfigInput {
  readonly brokerTimeoutMs?: number;
  readonly maxOrderAgeMs?: number;
  readonly orderIdRetentionDays?: number;
  readonly maxOrderIdsPerAccount?: number;
  readonly maxOrderIdsPerDeployment?: number;
  readonly auditArchiveAfterDays?: number;
  readonly auditFullRefusalsPerSecond?: number;
  readonly messageLimits?: Partial<MessageLimits>;
  readonly risk?: {
    readonly default?: RiskLimitsInput;
    readonly accounts?: Readonly<Record<string, RiskLimitsInput>>;
  };
}

/** Fills defaults in a configuration given as an object (tests, `startGateway`). */
export function compileGatewayConfig(input: GatewayConfigInput): GatewayConfig {
  const defaultLimits = { ...DEFAULT_RISK_LIMITS, ...definedOnly(input.risk?.default ?? {}) };
  const accountLimits = new Map<string, RiskLimits>();
  for (const [account, limits] of Object.entries(input.risk?.accounts ?? {}))
    accountLimits.set(account, { ...defaultLimits, ...definedOnly(limits) });
  return {
    brokerTimeoutMs: input.brokerTimeoutMs ?? DEFAULT_BROKER_TIMEOUT_MS,
    maxOrderAgeMs: input.maxOrderAgeMs ?? DEFAULT_MAX_ORDER_AGE_MS,
    orderIdRetentionMs: Math.round((input.orderIdRetentionDays ?? DEFAULT_ORDER_ID_RETENTION_DAYS) * DAY_MS),
    maxOrderIdsPerAccount: input.maxOrderIdsPerAccount ?? DEFAULT_MAX_ORDER_IDS_PER_ACCOUNT,
    maxOrderIdsPerDeployment: input.maxOrderIdsPerDeployment ?? DEFAULT_MAX_ORDER_IDS_PER_DEPLOYMENT,
    auditArchiveAfterMs: Math.round(
      (input.auditArchiveAfterDays ?? DEFAULT_AUDIT_ARCHIVE_AFTER_DAYS) * DAY_MS,
    ),
    auditFullRefusalsPerSecond: input.auditFullRefusalsPerSecond ?? DEFAULT_AUDIT_FULL_REFUSALS_PER_SECOND,
    messageLimits: compileMessageLimits(input.messageLimits ?? {}),
    defaultLimits,
    accountLimits,
  };
}

/** Reads and validates the YAML file; throws a ValidationError naming file and line. */
export function readGatewayConfig(file: string): GatewayConfig {
  return compileGatewayConfig(readYamlFile(file, configSchema).value);
}

/** Fills the limits' defaults; throws HiveError InvalidArgument for one below the minimum. */
function compileMessageLimits(input: Partial<MessageLimits>): MessageLimits {
  const limits = {
    orderFrame: input.orderFrame ?? DEFAULT_MAX_ORDER_FRAME_BYTES,
    controlFrame: input.controlFrame ?? DEFAULT_MAX_CONTROL_FRAME_BYTES,
    marketDataFrame: input.marketDataFrame ?? DEFAULT_MAX_MARKET_DATA_FRAME_BYTES,
  };
  for (const [field, value] of Object.entries(limits))
    if (!Number.isSafeInteger(value) || value < MIN_FRAME_LIMIT_BYTES)
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `gateway config messageLimits.${field} ${value}: expected a whole number of bytes of at least ${MIN_FRAME_LIMIT_BYTES}`,
      );
  return limits;
}

function definedOnly(limits: RiskLimitsInput): RiskLimitsInput {
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
}
