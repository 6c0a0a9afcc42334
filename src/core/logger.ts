import { pino, type Logger } from "pino";

/** A structured logger: JSON, one line per event, to stderr. */
export type { Logger } from "pino";

/**
 * The logger of one component (`runner`, `orchestrator`, `gateway`...), with its bindings (node
 * id, deployment id) on every line. The level comes from HIVE_LOG_LEVEL (default `info`).
 */
export function createLogger(component: string, bindings: Record<string, string> = {}): Logger {
  return pino(
    { level: process.env.HIVE_LOG_LEVEL ?? "info", base: { component, ...bindings } },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
