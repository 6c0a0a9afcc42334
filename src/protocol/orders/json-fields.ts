/**
 * The small checks both order parsers share (order.ts, envelope.ts): plain predicates over what
 * JSON.parse returns, with no allocation, because they run for every order on the runner and the
 * gateway.
 */

/** A JSON object read from the wire: its fields are unknown until checked. */
export type JsonObject = Record<string, unknown>;

/** Decodes a frame's bytes; throws on bytes that are not UTF-8 (`fatal`). */
export const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Whether `value` is a JSON object (not null, not a list). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether `value` is a finite number above zero (a quantity or a price). */
export function isPositiveNumber(value: unknown): value is number {
  return typeof value === "number" && value > 0 && Number.isFinite(value);
}
