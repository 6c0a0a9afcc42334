/**
 * A child process for the crash test (sqlite-store.test.ts): opens the SQLite store at argv[2] and
 * allocates epochs of the key argv[3] one after another, printing each on its own line only once
 * nextEpoch has resolved (that is, once the store acknowledged it). The test kills it with SIGKILL
 * while it does so, then checks that every printed epoch survived. It stops by itself after
 * argv[4] epochs (default 100,000) in case nobody kills it.
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { ErrorCode, HiveError } from "../../../core/hive-error.ts";
import { openSqliteStore } from "../sqlite-store.ts";

const [path, key = "acct-1", limit = "100000"] = process.argv.slice(2);
if (path === undefined) {
  throw new HiveError(ErrorCode.InvalidArgument, "usage: next-epoch-crash-child.ts <store.db> [key] [limit]");
}
const store = await openSqliteStore(path);
try {
  for (let i = 0; i < Number(limit); i++) {
    const epoch = await store.nextEpoch(key);
    process.stdout.write(`${epoch}\n`);
    await yieldToLoop();
  }
} finally {
  await store.close();
}
