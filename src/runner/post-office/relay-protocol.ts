import type { MarketDataLimits } from "./market-data-relay.ts";

/** The messages between the post office (relay-thread.ts) and its relay thread (relay-worker.ts). */

/** What the main thread asks; every request is answered once, `done` or `failed`, by its id. */
export type RelayRequest =
  | {
      readonly op: "open";
      readonly id: number;
      readonly relay: number;
      readonly path: string;
      readonly highWaterMark: number;
      readonly limits: MarketDataLimits;
      readonly label: string;
      /** The relay's counters (market-data-relay.ts), shared with the main thread. */
      readonly counters: SharedArrayBuffer;
      readonly remotes: readonly string[];
    }
  | { readonly op: "route"; readonly id: number; readonly relay: number; readonly remotes: readonly string[] }
  | { readonly op: "close"; readonly id: number; readonly relay: number };

/** What the relay thread says. */
export type RelayReply =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly id: number }
  | { readonly type: "failed"; readonly id: number; readonly message: string }
  | {
      readonly type: "log";
      readonly relay: number;
      readonly level: "info" | "warn" | "error";
      readonly fields: Record<string, unknown>;
      readonly message: string;
    };
