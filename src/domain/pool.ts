/**
 * The two hardware pools. Partitioning is strict and default-deny: a live node only ever takes
 * live services and a data node only backtests, whatever the load (DESIGN.md §1).
 */
export const POOLS = ["live", "backtest"] as const;

/** `live`: low-latency nodes for trading; `backtest`: big-RAM data nodes for replays. */
export type Pool = (typeof POOLS)[number];
