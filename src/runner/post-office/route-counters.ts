/**
 * What the post office reports per route: one entry per consumed socket it bridges.
 *
 * `messages`, `bytes` and `drops` mean different things on the two kinds of path, because only
 * the order path passes through JavaScript:
 *
 * | kind        | messages / bytes                                      | drops                    | exact |
 * |-------------|-------------------------------------------------------|--------------------------|-------|
 * | orders      | orders forwarded to the gateway / their envelope bytes | orders not forwarded     | yes   |
 * | market-data | metering tap counts (metering-tap.ts), null unmetered  | null: not observable     | no    |
 *
 * Market-data drops are null rather than 0 because ZeroMQ's PUB and XPUB sockets drop at their
 * high-water mark without telling anyone, and the native proxies expose no statistics to
 * JavaScript; reporting 0 would claim something nobody measured.
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
  /** Orders forwarded (exact), or market-data messages counted by the metering tap (null when unmetered). */
  readonly messages: number | null;
  /** The bytes of those messages: envelope bytes for orders, frame bytes for market data. */
  readonly bytes: number | null;
  /** Orders not forwarded (exact); null for market data, whose drops cannot be observed. */
  readonly drops: number | null;
  /** True when messages, bytes and drops are exact counts (the order path). */
  readonly exact: boolean;
  /** The order path's own counts, for orders routes only. */
  readonly orders?: OrderPathFigures;
}
