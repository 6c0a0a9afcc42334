/**
 * The TCP ports something on this machine listens on, from /proc/net/tcp and /proc/net/tcp6.
 * Reading them is one cheap pass per allocation and catches listeners a bind probe can miss
 * (an IPv6-only listener does not stop a bind on 0.0.0.0).
 */
import { readFile } from "node:fs/promises";

/** The `st` column of /proc/net/tcp for a listening socket (TCP_LISTEN). */
const TCP_LISTEN = "0A";

/**
 * Parses the text of /proc/net/tcp or /proc/net/tcp6 into the local ports of sockets in LISTEN
 * state, whatever address they are bound to. Lines look like
 * `  0: 0100007F:1F90 00000000:0000 0A ...` (address:port in hex, then the remote, then the state).
 */
export function parseListeningPorts(text: string): number[] {
  const ports = new Set<number>();
  for (const line of text.split("\n")) {
    const columns = line.trim().split(/\s+/);
    const local = columns[1];
    if (columns[3] !== TCP_LISTEN || local === undefined) continue;
    const hexPort = local.slice(local.lastIndexOf(":") + 1);
    const port = parseInt(hexPort, 16);
    if (/^[0-9A-Fa-f]{4}$/.test(hexPort) && port > 0) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** Reads the listening TCP ports (IPv4 and IPv6) of this network namespace; missing files count as empty. */
export async function readListeningPorts(
  paths: readonly string[] = ["/proc/net/tcp", "/proc/net/tcp6"],
): Promise<Set<number>> {
  const texts = await Promise.all(
    paths.map((path) =>
      readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
        // No IPv6 in this kernel (or no /proc): nothing listens there that we could see.
        if (err.code === "ENOENT") return "";
        throw err;
      }),
    ),
  );
  return new Set(texts.flatMap(parseListeningPorts));
}
