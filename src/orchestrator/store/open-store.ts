/**
 * Opens the store an orchestrator's `--store` flag names:
 * - `sqlite:<path>` (also `sqlite:///abs/path`): the embedded store on one file, the default;
 * - `memory:`: the fake, nothing survives the process (tests, demos);
 * - `etcd://host:port,...`: the HA store of DESIGN.md §5, not built yet.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { MemoryStore } from "./memory-store.ts";
import { openSqliteStore } from "./sqlite-store.ts";
import type { Store } from "./store.ts";

const EXPECTED = `expected "sqlite:/path/to/hive.db" or "memory:"`;

/** Opens the store named by a `--store` URL. */
export async function openStore(url: string): Promise<Store> {
  if (url === "memory:") return new MemoryStore();
  if (url.startsWith("sqlite:")) {
    let path = url.slice("sqlite:".length);
    // sqlite:///var/lib/hive.db, the URL form with an empty host, names /var/lib/hive.db.
    if (path.startsWith("///")) path = path.slice(2);
    else if (path.startsWith("//")) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `--store ${JSON.stringify(url)}: an SQLite store has no host, ${EXPECTED} or "sqlite:///path/to/hive.db"`,
      );
    }
    if (path.length === 0) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `--store ${JSON.stringify(url)} names no file, ${EXPECTED}`,
      );
    }
    return openSqliteStore(path);
  }
  if (url.startsWith("etcd:")) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `--store ${JSON.stringify(url)}: etcd store not built yet, ${EXPECTED}`,
    );
  }
  throw new HiveError(
    ErrorCode.InvalidArgument,
    `--store ${JSON.stringify(url)} is not a store URL, ${EXPECTED}`,
  );
}
