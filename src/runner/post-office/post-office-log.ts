/** The post office's logging seam: the few calls it makes, which a pino logger satisfies. */

/** Structured log calls: fields first, then a message, as pino takes them. */
export interface PostOfficeLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A log that drops everything, the default. */
export const silentLog: PostOfficeLog = {
  info() {},
  warn() {},
  error() {},
};
