/**
 * The seam between the port allocator and the machine: which ports are taken by someone else.
 * The real probe asks the kernel twice — the LISTEN sockets of /proc/net/tcp{,6}, then an actual
 * bind on the port, closed at once — because only a bind proves a port free right now.
 */
import { createServer } from "node:net";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { readListeningPorts } from "./listening-ports.ts";

/** Tells which ports of the machine are taken by anyone. */
export interface PortProbe {
  /** Ports something listens on now (a cheap pre-filter; may be empty if unknown). */
  listening(): Promise<ReadonlySet<number>>;
  /** True if a TCP server could be bound to host:port at this moment. */
  canBind(port: number, host: string): Promise<boolean>;
}

// A bind that fails with one of these means "someone has it", not "the probe is broken".
const TAKEN = new Set(["EADDRINUSE", "EACCES"]);

/**
 * The real probe: an actual bind, and optionally /proc/net/tcp{,6}. The bind alone is the ground
 * truth (binding the wildcard address fails for a port anyone listens on, on any address), and
 * generating /proc/net/tcp{,6} cost about 7 ms per spawn on the project's machines, so reading
 * it is off unless asked for.
 */
export class SystemPortProbe implements PortProbe {
  constructor(private readonly options: { readProcNet?: boolean } = {}) {}

  /** Reads the LISTEN sockets of /proc/net/tcp and /proc/net/tcp6 (empty unless readProcNet). */
  listening(): Promise<ReadonlySet<number>> {
    return this.options.readProcNet ? readListeningPorts() : Promise.resolve(new Set<number>());
  }

  /** Binds a TCP server on host:port and closes it again. */
  canBind(port: number, host: string): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.once("error", (err: NodeJS.ErrnoException) => {
        if (err.code !== undefined && TAKEN.has(err.code)) resolve(false);
        else
          reject(
            new HiveError(
              ErrorCode.InvalidArgument,
              `cannot probe port ${port} on host ${host}: ${err.message} ` +
                `(expected an address of this machine, such as 0.0.0.0 or 127.0.0.1)`,
              { cause: err },
            ),
          );
      });
      server.listen({ port, host, exclusive: true }, () => {
        server.close((err) => (err ? reject(HiveError.from(err)) : resolve(true)));
      });
    });
  }
}
