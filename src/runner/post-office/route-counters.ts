/**
 * What the post office reports per route: one entry per consumed socket it bridges. Every count
 * is exact on both kinds of path:
 *
 * | kind        | messages / bytes                                              | drops                                          |
 * |-------------|---------------------------------------------------------------|------------------------------------------------|
 * | orders      | orders forwarded to the gateway / their envelope bytes         | orders not forwarded                           |
 * | market-data | messages written to the strategy / their frame bodies' bytes   | messages a strategy connection did not get (at its high-water mark), or nobody got (none connected) |
 */
import type { SocketPattern } from "../../domain/index.ts";
import type { OrderPathFigures } from "./order-path.ts";

/** Which bridge carries a route. */
export type RouteKind = "market-data" | "orders";

/** Counts of one route; see the file comment for what each field means on each kind of path. */
export interface RouteCounters {
  readonly deploymentId: string;
  readonly socket: string;
  readonly pattern: SocketPattern;
  readonly kind: RouteKind;
  /** The remote addresses it is routed to now. */
  readonly remotes: readonly string[];
  /** Remotes whose connection is up now (ZeroMQ handshake done, not disconnected since). */
  readonly connectedRemotes: number;
  /** Orders forwarded, or market-data messages written to the strategy. */
  readonly messages: number;
  /** The bytes of those messages: envelope bytes for orders, frame bytes for market data. */
  readonly bytes: number;
  /** Orders not forwarded, or market-data messages a strategy connection did not get. */
  readonly drops: number;
  /** The order path's own counts, for orders routes only. */
  readonly orders?: OrderPathFigures;
}
