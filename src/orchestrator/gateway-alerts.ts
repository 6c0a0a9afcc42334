/**
 * Alerts about who steers a gateway: what a person must look at because two control planes, or a
 * control plane and a restored copy of its own past, meet at one gateway (docs/safety.md, "Two
 * orchestrators, one gateway"). Each is counted (the metric hive_gateway_alerts_total{gateway,
 * reason}) and logged at error level: the first of each (gateway, reason) at once, then at most
 * one line per LOG_EVERY_MS, saying how many came meanwhile (a refused controller retries its
 * activations every few seconds; its log must stay readable).
 */
import type { Logger } from "../core/logger.ts";
import { QuietInterval } from "../core/quiet-interval.ts";

/** Why an alert is raised. */
export type GatewayAlertReason =
  /** The gateway refused a steering op: another orchestrator (cluster id) controls it. */
  | "wrong-controller"
  /** The gateway holds an epoch above every epoch this store has given: a restored backup. */
  | "epoch-behind"
  /** A fence moved an account away from a deployment this orchestrator does not know. */
  | "unknown-previous";

/** At most one log line per (gateway, reason) in this long, after the first. */
export const LOG_EVERY_MS = 60_000;

/** One counted series. */
export interface GatewayAlertCount {
  readonly gateway: string;
  readonly reason: GatewayAlertReason;
  readonly count: number;
}

/** See the file comment. */
export class GatewayAlerts {
  readonly #log: Logger;
  readonly #counts = new Map<string, { gateway: string; reason: GatewayAlertReason; count: number }>();
  readonly #lines: QuietInterval;

  constructor(log: Logger, now: () => number) {
    this.#log = log;
    this.#lines = new QuietInterval(LOG_EVERY_MS, now);
  }

  /** Counts an alert and logs it (see the file comment). */
  raise(gateway: string, reason: GatewayAlertReason, fields: Record<string, unknown>, message: string): void {
    const key = `${gateway}\u0000${reason}`;
    const series = this.#counts.get(key) ?? { gateway, reason, count: 0 };
    series.count += 1;
    this.#counts.set(key, series);
    const quiet = this.#lines.pass(key);
    if (quiet === undefined) return;
    this.#log.error(
      { alert: reason, gateway, ...fields, ...(series.count > 1 ? { notLoggedSinceLast: quiet } : {}) },
      `gateway alert (${reason}): ${message}`,
    );
  }

  /** Every series raised so far, for the metric. */
  counts(): GatewayAlertCount[] {
    return [...this.#counts.values()].map((s) => ({ ...s }));
  }
}
