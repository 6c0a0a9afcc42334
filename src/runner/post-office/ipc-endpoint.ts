/**
 * Local `ipc://` endpoints: the file path behind one, and the Unix socket path limit.
 *
 * A Unix domain socket's path lives in `sockaddr_un.sun_path`, 108 bytes on Linux including the
 * terminating NUL, so a path may be at most 107 bytes. libzmq does not say which path was too
 * long (bind fails with a bare ENAMETOOLONG, or the path is silently truncated on some
 * systems), so the post office checks before it binds and names the path and the limit.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/** The longest Unix domain socket path, in bytes (Linux `sun_path` is 108 bytes with its NUL). */
export const MAX_IPC_PATH_BYTES = 107;

/** The file path of an `ipc://` endpoint; throws HiveError InvalidArgument for any other transport. */
export function ipcPath(endpoint: string): string {
  if (!endpoint.startsWith("ipc://") || endpoint.length === "ipc://".length) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `local endpoint ${JSON.stringify(endpoint)} is not an ipc:// endpoint; expected ipc://<path>`,
    );
  }
  return endpoint.slice("ipc://".length);
}

/** Throws HiveError InvalidArgument, naming the path and the limit, when `path` is too long for a socket. */
export function checkIpcPathLength(path: string, what: string): void {
  const bytes = Buffer.byteLength(path, "utf8");
  if (bytes > MAX_IPC_PATH_BYTES) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${what}: the Unix socket path ${path} is ${bytes} bytes, over the limit of ${MAX_IPC_PATH_BYTES} bytes; ` +
        `expected a shorter run directory, deployment id or socket name`,
    );
  }
}
