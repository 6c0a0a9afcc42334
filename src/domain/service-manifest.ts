import { z } from "zod";
import { POOLS } from "./pool.ts";
import { SOCKET_PATTERNS } from "./socket-pattern.ts";
import { accountName, envName, positiveByteSize, serviceName, tagName } from "./schema-helpers.ts";

/** What a service is; it sets defaults (restart policy) and how tools show it. */
export const SERVICE_KINDS = ["strategy", "backtest", "feeder", "gateway", "service"] as const;

/** One of {@link SERVICE_KINDS}. */
export type ServiceKind = (typeof SERVICE_KINDS)[number];

/** How a supervisor treats an exit: `always` restarts, `on-failure` only after a non-zero exit. */
export const RESTART_POLICIES = ["always", "on-failure", "never"] as const;

/** One of {@link RESTART_POLICIES}. */
export type RestartPolicyName = (typeof RESTART_POLICIES)[number];

const socketSpec = z.strictObject({
  name: envName,
  pattern: z.enum(SOCKET_PATTERNS),
  /** A consumed socket marked optional may be left unwired in a layout. */
  optional: z.boolean().default(false),
});

/** A named socket of a service and its ZeroMQ pattern. */
export type SocketSpec = z.output<typeof socketSpec>;

const datasetRef = z.strictObject({
  name: envName,
  id: z.string().min(1, "a dataset id"),
  version: z.string().min(1).optional(),
});

/** A dataset a service reads, handed to it as HIVE_DATASET_<NAME>. */
export type DatasetRef = z.output<typeof datasetRef>;

const preferredTag = z.strictObject({
  tag: tagName,
  weight: z.number().positive("a weight above zero").max(100, "a weight of at most 100"),
});

const restartSchema = z.strictObject({
  policy: z.enum(RESTART_POLICIES),
  maxRestarts: z.number().int().nonnegative().default(10),
  initialBackoffMs: z.number().int().positive().default(1_000),
  maxBackoffMs: z.number().int().positive().default(60_000),
});

/** The restart policy of a service, with its backoff. */
export type RestartPolicy = z.output<typeof restartSchema>;

/** The most orders per second (and burst) a layout may set as a service's limit. */
export const MAX_ORDERS_PER_SECOND = 1_000_000;

const limitsSchema = z.strictObject({
  /** Sustained orders per second the runner forwards for one instance (fractions allowed). */
  ordersPerSecond: z
    .number()
    .positive("a rate above zero, such as 50 or 0.5")
    .max(MAX_ORDERS_PER_SECOND, `at most ${MAX_ORDERS_PER_SECOND} orders per second`),
  /** Orders that may go at once after a quiet spell; default one second's worth (at least 1). */
  orderBurst: z
    .number()
    .int("a whole number of orders")
    .min(1, "a burst of at least 1 order")
    .max(MAX_ORDERS_PER_SECOND, `a burst of at most ${MAX_ORDERS_PER_SECOND} orders`)
    .optional(),
});

/** A service's order rate limit, enforced by its runner before an order leaves the node. */
export interface OrderLimits {
  readonly ordersPerSecond: number;
  readonly orderBurst: number;
}

/** The schema of a service manifest, as written in YAML. Memory sizes become bytes. */
export const serviceManifestSchema = z
  .strictObject({
    name: serviceName,
    kind: z.enum(SERVICE_KINDS),
    // No default: a service that names no pool is rejected (partitioning is default-deny).
    pool: z.enum(POOLS),
    command: z.string().min(1, "the executable to run"),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    resources: z.strictObject({
      cores: z.number().positive("a number of cores above zero, such as 0.5 or 2").max(1024),
      memory: positiveByteSize,
      /** Whole cores pinned to this service alone (cpuset); live pool only. */
      exclusiveCores: z.number().int().nonnegative().max(256).default(0),
    }),
    tags: z
      .strictObject({
        required: z.array(tagName).default([]),
        preferred: z.array(preferredTag).default([]),
      })
      .default({ required: [], preferred: [] }),
    datasets: z.array(datasetRef).default([]),
    sockets: z
      .strictObject({
        offers: z.array(socketSpec).default([]),
        consumes: z.array(socketSpec).default([]),
      })
      .default({ offers: [], consumes: [] }),
    /** Extra ports the service listens on itself (HIVE_PORT_<NAME>), beyond its offered sockets. */
    ports: z.array(envName).default([]),
    restart: restartSchema.optional(),
    /** Warm standby instances on other live nodes, promoted on failover; live strategies only. */
    standby: z.number().int().min(0).max(3).default(0),
    /**
     * Broker accounts this strategy trades: the gateway is fenced to it for each of them, and its
     * runner rejects an order for any other account before it leaves the node.
     */
    accounts: z.array(accountName).default([]),
    /**
     * A rate limit at the source: each instance's runner refuses orders above it (`rate-limited`)
     * before they leave the node. Only for a service with a consumed dealer (orders) socket.
     */
    limits: limitsSchema.optional(),
  })
  .superRefine((m, ctx) => {
    if (m.resources.exclusiveCores > 0 && m.pool !== "live") {
      ctx.addIssue({
        code: "custom",
        path: ["resources", "exclusiveCores"],
        input: m.resources.exclusiveCores,
        message: "0 outside the live pool (pinned cores are for live services)",
      });
    }
    if (m.resources.exclusiveCores > 0 && m.resources.cores > m.resources.exclusiveCores) {
      ctx.addIssue({
        code: "custom",
        path: ["resources", "cores"],
        input: m.resources.cores,
        message: `at most resources.exclusiveCores (${m.resources.exclusiveCores}): a pinned service runs inside its pinned cores`,
      });
    }
    if (m.standby > 0 && !(m.pool === "live" && m.kind === "strategy")) {
      ctx.addIssue({
        code: "custom",
        path: ["standby"],
        input: m.standby,
        message: "0 unless the service is a live strategy (kind: strategy, pool: live)",
      });
    }
    if (m.accounts.length > 0 && m.kind !== "strategy") {
      ctx.addIssue({
        code: "custom",
        path: ["accounts"],
        input: m.accounts,
        message: "no accounts unless the service is a strategy (kind: strategy)",
      });
    }
    if (m.limits !== undefined && !m.sockets.consumes.some((s) => s.pattern === "dealer")) {
      ctx.addIssue({
        code: "custom",
        path: ["limits"],
        input: m.limits,
        message: "no limits unless the service consumes a dealer (orders) socket: there is nothing to limit",
      });
    }
    m.accounts.forEach((a, i) => {
      if (m.accounts.indexOf(a) !== i) {
        ctx.addIssue({ code: "custom", path: ["accounts", i], input: a, message: "an account listed once" });
      }
    });
    const names = new Map<string, string>();
    const all = [
      ...m.sockets.offers.map((s, i) => ({ s, path: ["sockets", "offers", i, "name"] })),
      ...m.sockets.consumes.map((s, i) => ({ s, path: ["sockets", "consumes", i, "name"] })),
      ...m.ports.map((p, i) => ({ s: { name: p }, path: ["ports", i] })),
    ];
    for (const { s, path } of all) {
      if (names.has(s.name)) {
        ctx.addIssue({
          code: "custom",
          path,
          input: s.name,
          message: "a socket or port name not used twice",
        });
      }
      names.set(s.name, s.name);
    }
    const datasetNames = new Set<string>();
    m.datasets.forEach((d, i) => {
      if (datasetNames.has(d.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["datasets", i, "name"],
          input: d.name,
          message: "a dataset name not used twice",
        });
      }
      datasetNames.add(d.name);
    });
  })
  .transform((m) => ({
    ...m,
    resources: {
      cores: m.resources.cores,
      memoryBytes: m.resources.memory,
      exclusiveCores: m.resources.exclusiveCores,
    },
    restart: m.restart ?? defaultRestart(m.kind),
    // Absent unless set, so a manifest without limits reads as it did before they existed.
    ...(m.limits === undefined ? {} : { limits: compileLimits(m.limits) }),
  }));

/** The limits with the burst filled: one second's worth of orders, at least 1. */
function compileLimits(limits: z.output<typeof limitsSchema>): OrderLimits {
  return {
    ordersPerSecond: limits.ordersPerSecond,
    orderBurst: limits.orderBurst ?? Math.max(1, Math.ceil(limits.ordersPerSecond)),
  };
}

/** A validated service manifest: what to run, where it may run, and what it connects to. */
export type ServiceManifest = z.output<typeof serviceManifestSchema>;

/** The restart policy a service gets when its manifest names none. */
export function defaultRestart(kind: ServiceKind): RestartPolicy {
  // A backtest that finished cleanly is done; everything long-running comes back.
  const policy = kind === "backtest" ? "on-failure" : "always";
  return { policy, maxRestarts: 10, initialBackoffMs: 1_000, maxBackoffMs: 60_000 };
}

/** Ports a service needs from its node's range: one per offered socket, plus its named ports. */
export function portsNeeded(m: Pick<ServiceManifest, "sockets" | "ports">): number {
  return m.sockets.offers.length + m.ports.length;
}
