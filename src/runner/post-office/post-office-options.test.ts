import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { silentLogger } from "../../core/logger.ts";
import type { PostOfficeLog } from "./post-office-log.ts";
import { compilePostOfficeOptions, DEFAULT_HIGH_WATER_MARK } from "./post-office-options.ts";

describe("post office options", () => {
  test("fills defaults", () => {
    const o = compilePostOfficeOptions({ runDir: "/run/hive" });
    assert.equal(o.highWaterMark, DEFAULT_HIGH_WATER_MARK);
  });

  test("refuses bad values, naming the field", () => {
    const invalid = (field: RegExp) => (err: unknown) =>
      err instanceof HiveError && err.code === ErrorCode.InvalidArgument && field.test(err.message);
    assert.throws(() => compilePostOfficeOptions({ runDir: "relative" }), invalid(/runDir/));
    assert.throws(
      () => compilePostOfficeOptions({ runDir: "/r", highWaterMark: 0 }),
      invalid(/highWaterMark/),
    );
  });

  test("a pino logger is a PostOfficeLog", () => {
    const log: PostOfficeLog = silentLogger();
    log.info({ a: 1 }, "typed");
  });
});
