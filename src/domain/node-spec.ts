import { z } from "zod";
import { POOLS, type Pool } from "./pool.ts";
import type { HotDataset } from "./dataset.ts";
import { positiveByteSize, tagName } from "./schema-helpers.ts";

/**
 * The health of a node in the registry.
 *
 *   ready ──(missed heartbeats)──▶ suspect ──(lease expired)──▶ down
 *     ▲                               │
 *     └──────────(heartbeat)──────────┘
 *
 * Draining is a separate flag: a draining node keeps what it runs but takes nothing new.
 */
export const NODE_STATES = ["ready", "suspect", "down"] as const;

/** One of {@link NODE_STATES}. */
export type NodeState = (typeof NODE_STATES)[number];

/** A node as the scheduler sees it: what it is, what it has, and how busy it really is. */
export interface NodeSpec {
  readonly id: string;
  readonly pool: Pool;
  readonly tags: readonly string[];
  readonly capacity: {
    readonly cores: number;
    readonly memoryBytes: number;
    /** How many whole cores may be pinned exclusively (the rest stay shared with the OS). */
    readonly exclusiveCores: number;
  };
  /** The inclusive range of TCP ports the node's runner owns. */
  readonly portRange: { readonly first: number; readonly last: number };
  readonly hotDatasets: readonly HotDataset[];
  /** Real load from the last heartbeat: CPU as a fraction of capacity, memory in bytes. */
  readonly load: { readonly cpu: number; readonly memoryUsedBytes: number };
  readonly state: NodeState;
  readonly draining: boolean;
  /** Bandwidth of the node's link, for the cost of pulling a dataset that is not hot. */
  readonly linkBandwidthBytesPerSec: number;
}

/** 10 Gbit/s, the link bandwidth assumed when a node reports none. */
export const DEFAULT_LINK_BANDWIDTH = 1.25e9;

/** The schema of a node as written in YAML (a dev cluster file, test fixtures). */
export const nodeSpecSchema = z
  .strictObject({
    id: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "a node id of letters, digits, '_', '.', '-'"),
    pool: z.enum(POOLS),
    tags: z.array(tagName).default([]),
    capacity: z.strictObject({
      cores: z.number().positive(),
      memory: positiveByteSize,
      exclusiveCores: z.number().int().nonnegative().optional(),
    }),
    portRange: z.strictObject({
      first: z.number().int().min(1024).max(65535),
      last: z.number().int().min(1024).max(65535),
    }),
    hotDatasets: z
      .array(
        z.strictObject({
          id: z.string().min(1),
          version: z.string().default("1"),
          bytes: z.number().nonnegative(),
        }),
      )
      .default([]),
    load: z
      .strictObject({ cpu: z.number().min(0).max(1), memoryUsedBytes: z.number().nonnegative() })
      .default({ cpu: 0, memoryUsedBytes: 0 }),
    state: z.enum(["ready", "suspect", "down"]).default("ready"),
    draining: z.boolean().default(false),
    linkBandwidthBytesPerSec: z.number().positive().default(DEFAULT_LINK_BANDWIDTH),
  })
  .superRefine((n, ctx) => {
    if (n.portRange.last < n.portRange.first) {
      ctx.addIssue({
        code: "custom",
        path: ["portRange", "last"],
        input: n.portRange.last,
        message: `a port at or above portRange.first (${n.portRange.first})`,
      });
    }
    const exclusive = n.capacity.exclusiveCores;
    if (exclusive !== undefined && exclusive > Math.floor(n.capacity.cores)) {
      ctx.addIssue({
        code: "custom",
        path: ["capacity", "exclusiveCores"],
        input: exclusive,
        message: `at most the node's whole cores (${Math.floor(n.capacity.cores)})`,
      });
    }
  })
  .transform((n): NodeSpec => ({
    ...n,
    capacity: {
      cores: n.capacity.cores,
      memoryBytes: n.capacity.memory,
      // By default one core stays shared for the OS and the runner itself.
      exclusiveCores: n.capacity.exclusiveCores ?? Math.max(0, Math.floor(n.capacity.cores) - 1),
    },
  }));

/** Ports in a node's range. */
export function portCount(node: Pick<NodeSpec, "portRange">): number {
  return node.portRange.last - node.portRange.first + 1;
}
