import { join, resolve } from "node:path";
import { z } from "zod";
import { POOLS, readYamlFile, type Pool } from "../domain/index.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { byteSize, tagName } from "../domain/schema-helpers.ts";
import { DEFAULT_UID_RANGE, MAX_DEPLOYMENT_UID } from "./uids/index.ts";
import { DEFAULT_MAX_ORDER_QUEUE_MS, ORDER_QUEUE_MS_RANGE } from "./post-office/index.ts";
import {
  DEFAULT_MAX_MARKET_DATA_BYTES,
  MIN_MAX_ORDER_BYTES,
  type PostOfficeLimits,
} from "./post-office/post-office-options.ts";

/** A uid a deployment may be given: never 0 (root), never (uid_t)-1. */
const deploymentUid = z.number().int().min(1, "a uid of at least 1 (never 0, root)").max(MAX_DEPLOYMENT_UID);
import type { TlsFiles } from "../security/pki/index.ts";

/**
 * A runner's configuration, as written in its YAML file (see examples/runner/). Flags given on
 * the command line override the file. Capacity is read from the machine; the file may only
 * narrow it (e.g. keep cores for the OS), never invent it.
 */
export const runnerConfigSchema = z.strictObject({
  nodeId: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "a node id of letters, digits, '_', '.', '-'"),
  pool: z.enum(POOLS),
  tags: z.array(tagName).default([]),
  /**
   * Orchestrator base URLs, tried in turn: https://host:port (mutual TLS, with `tls`), or
   * http://host:port (cleartext, which an orchestrator serves on loopback only).
   */
  orchestrators: z.array(z.url({ protocol: /^https?$/ })).min(1, "at least one orchestrator URL"),
  /**
   * The runner's TLS files for https:// orchestrators: the cluster CA certificate, this node's
   * certificate and its key (mode 0600). A missing certificate is obtained with the join token
   * (TLS bootstrap) and written to `cert` and `key`.
   */
  tls: z.strictObject({ ca: z.string().min(1), cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /**
   * A file (mode 0600) with a join token: over TLS, a one-time token spent on this node's first
   * certificate; over cleartext (loopback), the token presented at every registration.
   */
  joinTokenFile: z.string().min(1).optional(),
  /** The address other nodes reach this node's ports at. */
  advertiseHost: z.string().default("127.0.0.1"),
  portRange: z
    .strictObject({
      first: z.number().int().min(1024).max(65535),
      last: z.number().int().min(1024).max(65535),
    })
    .refine((r) => r.last >= r.first, { message: "last at or above first", path: ["last"] }),
  /**
   * The uids (and gids of the same numbers) deployments run under, one per deployment, when the
   * runner is root. Runners sharing a machine need ranges that do not overlap.
   */
  deploymentUids: z
    .strictObject({ first: deploymentUid, last: deploymentUid })
    .refine((r) => r.last >= r.first, { message: "last at or above first", path: ["last"] })
    .default({ ...DEFAULT_UID_RANGE }),
  capacity: z
    .strictObject({
      cores: z.number().positive().optional(),
      memory: byteSize.optional(),
      exclusiveCores: z.number().int().nonnegative().optional(),
    })
    .default({}),
  /** Where the runner keeps its records and per-deployment logs; survives runner restarts. */
  stateDir: z.string().optional(),
  /** Where local ipc sockets live (keep it short: Unix socket paths are limited to 107 bytes). */
  runDir: z.string().optional(),
  datasets: z.strictObject({ dir: z.string().optional(), budget: byteSize.optional() }).default({}),
  logCap: byteSize.default(10 * 2 ** 20),
  /**
   * Name of the cgroup under which every deployment's group is made. Default `hive-<nodeId>`: one
   * per runner, because a starting runner kills every group under its parent that it has no
   * record of, and several runners may share a machine (`hive dev`).
   */
  cgroupParent: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]+$/)
    .optional(),
  linkBandwidthBytesPerSec: z.number().positive().default(1.25e9),
  /** Grace between SIGTERM and SIGKILL when a deployment is stopped. */
  stopGraceMs: z.number().int().positive().default(5_000),
  /**
   * The runner's CURVE secret key (Z85), with the public key in `<file>.pub`; created with a
   * fresh pair if missing. Default: a fresh pair at every start, kept in memory only.
   */
  curveKeyFile: z.string().min(1).optional(),
  /**
   * After the lease ran out (order paths closed at once), how long until the live processes are
   * killed. Default: the lease TTL the orchestrator granted.
   */
  selfFenceKillAfterMs: z.number().int().positive().optional(),
  /**
   * The longest an order may wait in the runner's queue (a stalled main thread, a backlog) before
   * it is read; older ones are refused `queued-too-long` instead of leaving with a fresh stamp.
   */
  maxOrderQueueMs: z
    .number()
    .int()
    .min(ORDER_QUEUE_MS_RANGE.min)
    .max(ORDER_QUEUE_MS_RANGE.max)
    .default(DEFAULT_MAX_ORDER_QUEUE_MS),
  /**
   * Size limits on what enters the post office (docs/runner.md, "Size limits"): the largest order
   * frame a strategy may send (default 64KiB; a bigger one closes the strategy's connection
   * unread), and the largest frame and message a market-data feeder may send (default 256MiB).
   */
  messageLimits: z
    .strictObject({
      order: byteSize
        .refine((n) => n >= MIN_MAX_ORDER_BYTES, `at least ${MIN_MAX_ORDER_BYTES} bytes (4KiB)`)
        .optional(),
      marketDataFrame: byteSize.refine((n) => n >= 1024, "at least 1024 bytes (1KiB)").optional(),
      marketDataMessage: byteSize.refine((n) => n >= 1024, "at least 1024 bytes (1KiB)").optional(),
    })
    .refine(
      (l) =>
        l.marketDataMessage === undefined ||
        l.marketDataMessage >= (l.marketDataFrame ?? DEFAULT_MAX_MARKET_DATA_BYTES),
      {
        message: "at least marketDataFrame: a message holds at least one frame",
        path: ["marketDataMessage"],
      },
    )
    .default({}),
  /** Where to serve Prometheus metrics (host:port); none by default. */
  metricsListen: z
    .string()
    .regex(/^.+:\d{1,5}$/, "host:port, such as 127.0.0.1:9101")
    .optional(),
});

/** A runner configuration as written. */
export type RunnerConfig = z.input<typeof runnerConfigSchema>;

/** A runner configuration with every default filled. */
export interface CompiledRunnerOptions {
  readonly nodeId: string;
  readonly pool: Pool;
  readonly tags: readonly string[];
  readonly orchestrators: readonly string[];
  /** The TLS files of the link (https:// orchestrators); undefined: cleartext. */
  readonly tls: TlsFiles | undefined;
  /** The join token's file (0600): bootstrap over TLS, presented in Register over cleartext. */
  readonly joinTokenFile: string | undefined;
  readonly advertiseHost: string;
  readonly portRange: { readonly first: number; readonly last: number };
  /** The uids deployments run under (each also as the gid of the same number), when the runner is root. */
  readonly deploymentUids: { readonly first: number; readonly last: number };
  readonly capacityLimits: {
    readonly cores?: number;
    readonly memoryBytes?: number;
    readonly exclusiveCores?: number;
  };
  readonly stateDir: string;
  readonly runDir: string;
  readonly datasetDir: string;
  /** Memory budget of the dataset cache; undefined: a quarter of the node's memory. */
  readonly datasetBudgetBytes: number | undefined;
  readonly logCapBytes: number;
  readonly cgroupParent: string;
  readonly linkBandwidthBytesPerSec: number;
  readonly stopGraceMs: number;
  /** The CURVE key file; undefined: a fresh key pair per start, in memory. */
  readonly curveKeyFile: string | undefined;
  /** Grace between self-fencing and killing the live processes; undefined: the lease TTL. */
  readonly selfFenceKillAfterMs: number | undefined;
  /** The bound of an order's wait in the runner's queue (post office `maxOrderQueueMs`). */
  readonly maxOrderQueueMs: number;
  /** The post office's size limits (unset: its defaults). */
  readonly messageLimits: PostOfficeLimits;
  /** host:port of the metrics endpoint, if any. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
}

/** Validates a configuration (from a file, flags, or both) and fills the defaults. */
export function compileRunnerOptions(input: unknown): CompiledRunnerOptions {
  const c = runnerConfigSchema.parse(input);
  return fromConfig(c);
}

/** Reads a runner configuration file, with flags applied on top; errors name the file and field. */
export function readRunnerConfig(file: string, overrides: Partial<RunnerConfig> = {}): CompiledRunnerOptions {
  const schema = z.unknown().transform((raw) => ({ ...(raw as object), ...stripUndefined(overrides) }));
  const merged = readYamlFile(file, schema.pipe(runnerConfigSchema)).value;
  return fromConfig(merged);
}

function fromConfig(c: z.output<typeof runnerConfigSchema>): CompiledRunnerOptions {
  checkLinkSecurity(c);
  return {
    nodeId: c.nodeId,
    pool: c.pool,
    tags: c.tags,
    orchestrators: c.orchestrators,
    tls: c.tls,
    joinTokenFile: c.joinTokenFile,
    advertiseHost: c.advertiseHost,
    portRange: c.portRange,
    deploymentUids: c.deploymentUids,
    capacityLimits: {
      cores: c.capacity.cores,
      memoryBytes: c.capacity.memory,
      exclusiveCores: c.capacity.exclusiveCores,
    },
    // Absolute and normalised, as they are written into records and socket paths; a record's
    // directory is compared with the next start's by sameDirectory (same-directory.ts).
    stateDir: resolve(c.stateDir ?? join("/var/lib/hive", c.nodeId)),
    runDir: resolve(c.runDir ?? join("/run/hive", c.nodeId)),
    datasetDir: c.datasets.dir ?? join("/dev/shm/hive", c.nodeId, "datasets"),
    datasetBudgetBytes: c.datasets.budget,
    logCapBytes: c.logCap,
    cgroupParent: c.cgroupParent ?? `hive-${c.nodeId}`,
    linkBandwidthBytesPerSec: c.linkBandwidthBytesPerSec,
    stopGraceMs: c.stopGraceMs,
    curveKeyFile: c.curveKeyFile,
    selfFenceKillAfterMs: c.selfFenceKillAfterMs,
    maxOrderQueueMs: c.maxOrderQueueMs,
    messageLimits: {
      maxOrderBytes: c.messageLimits.order,
      maxMarketDataFrameBytes: c.messageLimits.marketDataFrame,
      maxMarketDataMessageBytes: c.messageLimits.marketDataMessage,
    },
    metricsListen: c.metricsListen
      ? {
          host: c.metricsListen.slice(0, c.metricsListen.lastIndexOf(":")),
          port: Number(c.metricsListen.slice(c.metricsListen.lastIndexOf(":") + 1)),
        }
      : undefined,
  };
}

/** https:// orchestrators and TLS files go together: a link is mutual TLS or cleartext throughout. */
function checkLinkSecurity(c: z.output<typeof runnerConfigSchema>): void {
  const https = c.orchestrators.filter((u) => u.startsWith("https:"));
  if (c.tls === undefined && https.length > 0) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `runner ${c.nodeId}: orchestrators ${https.join(", ")}: https:// needs tls: { ca, cert, key } (or --tls-*)`,
    );
  }
  if (c.tls !== undefined && https.length !== c.orchestrators.length) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `runner ${c.nodeId}: with tls, every orchestrator URL is https:// (found ${c.orchestrators.join(", ")})`,
    );
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
