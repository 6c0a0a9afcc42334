/**
 * A layout seen as a graph: services found by name, wire ends resolved to the socket they name
 * and the side (offered or consumed) it sits on. Shared by validation, which explains every end
 * that does not resolve, and routing, which may assume they all do.
 */
import type { Layout, ServiceManifest, SocketSpec, Wire, WireEnd } from "../domain/index.ts";

/** The side of a socket: a service binds what it `offers` and connects out to what it `consumes`. */
export type SocketSide = "offers" | "consumes";

/** A service of a layout and its position in `services`, for error paths. */
export interface IndexedService {
  readonly manifest: ServiceManifest;
  readonly index: number;
}

/** A wire end that names a real socket. */
export interface ResolvedEnd {
  readonly service: IndexedService;
  readonly socket: SocketSpec;
  readonly side: SocketSide;
  /** Position of the socket in `sockets.offers` or `sockets.consumes`. */
  readonly socketIndex: number;
}

/** A wire whose ends resolved to one consumed and one offered socket. */
export interface ResolvedWire {
  readonly consumer: ResolvedEnd;
  readonly producer: ResolvedEnd;
}

/**
 * The services of a layout by name. On a duplicate name the first service wins, so a wire that
 * names it resolves somewhere; validation reports the duplicate itself.
 */
export function indexServices(layout: Layout): ReadonlyMap<string, IndexedService> {
  const byName = new Map<string, IndexedService>();
  layout.services.forEach((manifest, index) => {
    if (!byName.has(manifest.name)) byName.set(manifest.name, { manifest, index });
  });
  return byName;
}

/** Finds a named socket of a service on either side; undefined when the service has no such socket. */
export function findSocket(service: IndexedService, name: string): ResolvedEnd | undefined {
  for (const side of ["offers", "consumes"] as const) {
    const socketIndex = service.manifest.sockets[side].findIndex((s) => s.name === name);
    const socket = service.manifest.sockets[side][socketIndex];
    if (socket !== undefined) return { service, socket, side, socketIndex };
  }
  return undefined;
}

/** Resolves one wire end; undefined when its service or socket does not exist. */
export function resolveEnd(
  services: ReadonlyMap<string, IndexedService>,
  end: WireEnd,
): ResolvedEnd | undefined {
  const service = services.get(end.service);
  return service === undefined ? undefined : findSocket(service, end.socket);
}

/**
 * Resolves a wire into (consumer, producer), whichever order it was written in; undefined when an
 * end does not resolve or both ends sit on the same side. Patterns are not checked here.
 */
export function resolveWire(
  services: ReadonlyMap<string, IndexedService>,
  wire: Wire,
): ResolvedWire | undefined {
  const a = resolveEnd(services, wire.from);
  const b = resolveEnd(services, wire.to);
  if (a === undefined || b === undefined || a.side === b.side) return undefined;
  return a.side === "consumes" ? { consumer: a, producer: b } : { consumer: b, producer: a };
}

/** The key of a socket of a service, written as in a layout: `momentum.orders`. */
export function socketKey(service: string, socket: string): string {
  return `${service}.${socket}`;
}

/** Prints a resolved end as written in a layout: `momentum.orders`. */
export function formatEnd(end: ResolvedEnd): string {
  return socketKey(end.service.manifest.name, end.socket.name);
}

/** Lists words as people write them: `a`, `a or b`, `a, b or c`. */
export function listWords(words: readonly string[], conjunction = "or"): string {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} ${conjunction} ${words[words.length - 1] ?? ""}`;
}
