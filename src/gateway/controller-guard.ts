/**
 * The gateway's record of its controller (controller-record.ts), kept in the `meta` table of its
 * database (key `controller`) and in memory, and the check of every steering op against it.
 *
 * Transitions (each written inside the batch transaction of the request that made it, so it is
 * durable before the answer leaves, and each audited, kind `controller`):
 *
 *   none ──first fence applied, naming C──▶ C ──reassign from C, by D──▶ D ──▶ ...
 *   none ──reassign from "none", by D──────▶ D
 *
 * A steering op from anyone but the recorded controller is refused (WrongControllerError); with
 * none recorded, every op passes (a gateway upgraded from before controllers, or new, takes the
 * first controller that fences it). A request that names no controller (a tool, an orchestrator
 * older than issue 17) is refused by a gateway that has one, and never claims one.
 *
 * Refusals are audited without flooding: the first of each caller, then one row per caller per
 * REFUSAL_ROW_MS at most, carrying how many were refused since the last row.
 */
import type Database from "better-sqlite3";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { ControlOp } from "./control-protocol.ts";
import {
  NO_CONTROLLER,
  STEERING_OPS,
  WrongControllerError,
  type ControllerView,
} from "./controller-record.ts";
import { readMeta, writeMeta } from "./gateway-db.ts";

/** The meta key of the record. */
const META_KEY = "controller";

/** At most one audit row per refused caller in this long. */
export /** Refused callers whose refusals are counted between audit rows, at most. */
const MAX_REFUSED_CALLERS = 64;
const REFUSAL_ROW_MS = 60_000;

const steering: ReadonlySet<string> = new Set(STEERING_OPS);

/** See the file comment. */
export class ControllerGuard {
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #audit: Database.Statement;
  #record: ControllerView | null;
  /** Per refused caller: when its last audit row was written, and the refusals since. */
  readonly #refusals = new Map<string, { rowAt: number; since: number }>();
  /** Steering ops refused since start (for `status`). */
  refused = 0;

  /** Callers whose refusals are counted now (at most MAX_REFUSED_CALLERS). */
  get trackedCallers(): number {
    return this.#refusals.size;
  }

  /** Refusals counted and not yet written in a row. */
  get pendingRefusals(): number {
    let n = 0;
    for (const seen of this.#refusals.values()) n += seen.since;
    return n;
  }

  constructor(db: Database.Database, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
    this.#audit = db.prepare(
      "INSERT INTO audit (kind, outcome, code, detail, decided_at_ms) VALUES ('controller', ?, ?, ?, ?)",
    );
    const stored = readMeta(db, META_KEY);
    this.#record = stored === undefined ? null : (JSON.parse(stored) as ControllerView);
  }

  /** The recorded controller, or null. */
  view(): ControllerView | null {
    return this.#record;
  }

  /** Throws WrongControllerError when `op` steers and `caller` is not the recorded controller. */
  check(op: ControlOp, caller: string | null): void {
    const holder = this.#record;
    if (holder === null || !steering.has(op) || caller === holder.clusterId) return;
    this.refused += 1;
    const err = WrongControllerError.of(op, holder, caller);
    const key = caller ?? "";
    const seen = this.#refusals.get(key);
    const now = this.#now();
    if (seen !== undefined && now - seen.rowAt < REFUSAL_ROW_MS) seen.since += 1;
    else {
      if (seen === undefined && this.#refusals.size >= MAX_REFUSED_CALLERS) this.#forgetQuiet(now);
      this.#refusals.set(key, { rowAt: now, since: 0 });
      const detail = { op, holder: holder.clusterId, caller, refusedSinceLastRow: (seen?.since ?? 0) + 1 };
      this.#audit.run("refused", "wrong-controller", JSON.stringify(detail), now);
    }
    throw err;
  }

  /**
   * Keeps the per-caller state bounded (callers are strings from the network): entries past
   * their row interval go, those with refusals not yet in a row written first; if every entry is
   * recent, the oldest goes the same way.
   */
  #forgetQuiet(now: number): void {
    let oldest: [string, { rowAt: number; since: number }] | undefined;
    for (const entry of this.#refusals) {
      if (now - entry[1].rowAt >= REFUSAL_ROW_MS) this.#forget(entry[0], entry[1], now);
      else if (oldest === undefined || entry[1].rowAt < oldest[1].rowAt) oldest = entry;
    }
    if (this.#refusals.size >= MAX_REFUSED_CALLERS && oldest !== undefined)
      this.#forget(oldest[0], oldest[1], now);
  }

  #forget(caller: string, seen: { rowAt: number; since: number }, now: number): void {
    this.#refusals.delete(caller);
    if (seen.since > 0)
      this.#audit.run(
        "refused",
        "wrong-controller",
        JSON.stringify({ caller: caller || null, refusedSinceLastRow: seen.since }),
        now,
      );
  }

  /** After a fence from `caller` was applied: records it as the controller if there is none. */
  fenced(caller: string | null): void {
    if (this.#record !== null || caller === null) return;
    this.#set({ clusterId: caller, sinceUnixMs: this.#now() });
    this.#audit.run("claimed", null, JSON.stringify({ controller: caller }), this.#now());
  }

  /**
   * Records `caller` as the controller in place of `from` (a cluster id, or "none" for a gateway
   * with none): a compare-and-set, so an operator names whom they take it from. The same caller
   * again is an unchanged success. Returns the controller replaced.
   */
  reassign(caller: string, from: string, by: string): ControllerView | null {
    const previous = this.#record;
    const holder = previous?.clusterId ?? NO_CONTROLLER;
    if (from !== holder)
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `reassign: this gateway is controlled by ${previous === null ? "no cluster yet" : `cluster ${holder}`}, ` +
          `not ${from === NO_CONTROLLER ? "by none" : `by ${from}`}; expected --from ${holder}`,
      );
    if (previous?.clusterId === caller) return previous;
    this.#set({ clusterId: caller, sinceUnixMs: this.#now() });
    this.#refusals.delete(caller);
    this.#audit.run(
      "reassigned",
      null,
      JSON.stringify({ from: previous?.clusterId ?? null, to: caller, by }),
      this.#now(),
    );
    return previous;
  }

  #set(record: ControllerView): void {
    writeMeta(this.#db, META_KEY, JSON.stringify(record));
    this.#record = record;
  }
}
