import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { silentLogger } from "../../core/logger.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import { compilePostOfficeOptions, DEFAULT_HIGH_WATER_MARK } from "./post-office-options.ts";
import { MIN_FREE_POOL_THREADS, threadPoolSize } from "./thread-budget.ts";

describe("post office options", () => {
  test("fills defaults", () => {
    const o = compilePostOfficeOptions({ runDir: "/run/hive" });
    assert.equal(o.highWaterMark, DEFAULT_HIGH_WATER_MARK);
    assert.equal(o.meterMarketData, false);
    assert.equal(o.maxProxies, threadPoolSize() - MIN_FREE_POOL_THREADS);
  });

  test("never lets maxProxies pass the pool", () => {
    assert.equal(
      compilePostOfficeOptions({ runDir: "/r", maxProxies: 10_000 }).maxProxies,
      threadPoolSize() - 1,
    );
    assert.equal(compilePostOfficeOptions({ runDir: "/r", maxProxies: 1 }).maxProxies, 1);
  });

  test("refuses bad values, naming the field", () => {
    const invalid = (field: RegExp) => (err: unknown) =>
      err instanceof HiveError && err.code === ErrorCode.InvalidArgument && field.test(err.message);
    assert.throws(() => compilePostOfficeOptions({ runDir: "relative" }), invalid(/runDir/));
    assert.throws(
      () => compilePostOfficeOptions({ runDir: "/r", highWaterMark: 0 }),
      invalid(/highWaterMark/),
    );
    assert.throws(() => compilePostOfficeOptions({ runDir: "/r", maxProxies: -1 }), invalid(/maxProxies/));
  });

  test("a pino logger is a PostOfficeLog", () => {
    const log: PostOfficeLog = silentLogger();
    log.info({ a: 1 }, "typed");
  });
});
