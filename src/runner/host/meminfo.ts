/** Parsing of /proc/meminfo. */

/** The figures of /proc/meminfo the runner uses, in bytes. */
export interface Meminfo {
  /** MemTotal: usable RAM of the machine. */
  readonly totalBytes: number;
  /** MemAvailable: what can be given to new work without swapping (estimated on old kernels). */
  readonly availableBytes: number;
}

/** Parses "Key:   1234 kB" lines into a map of bytes (values without a unit are kept as they are). */
export function parseMeminfoFields(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^([^:\s]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    fields.set(match[1] ?? "", match[3] === "kB" ? value * 1024 : value);
  }
  return fields;
}

/**
 * Parses the text of /proc/meminfo. Kernels before 3.14 have no MemAvailable; there it is
 * estimated as MemFree + Buffers + Cached, as `free` did. Returns undefined without MemTotal.
 */
export function parseMeminfo(text: string): Meminfo | undefined {
  const f = parseMeminfoFields(text);
  const totalBytes = f.get("MemTotal");
  if (totalBytes === undefined) return undefined;
  const availableBytes =
    f.get("MemAvailable") ?? (f.get("MemFree") ?? 0) + (f.get("Buffers") ?? 0) + (f.get("Cached") ?? 0);
  return { totalBytes, availableBytes: Math.min(totalBytes, availableBytes) };
}
