import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { checkIpcPathLength, ipcPath, MAX_IPC_PATH_BYTES } from "./ipc-endpoint.ts";

describe("ipc endpoints", () => {
  test("gives the path of an ipc:// endpoint and refuses anything else", () => {
    assert.equal(ipcPath("ipc:///run/hive/strategies/d/md"), "/run/hive/strategies/d/md");
    for (const bad of ["tcp://1.2.3.4:5", "ipc://", "/run/x"]) {
      assert.throws(
        () => ipcPath(bad),
        (err: unknown) => err instanceof HiveError && err.code === ErrorCode.InvalidArgument,
      );
    }
  });

  test("accepts 107 bytes and refuses 108, counting bytes not characters", () => {
    checkIpcPathLength(`/${"a".repeat(MAX_IPC_PATH_BYTES - 1)}`, "ok");
    const long = `/${"a".repeat(MAX_IPC_PATH_BYTES)}`;
    assert.throws(
      () => checkIpcPathLength(long, "deployment d socket s"),
      (err: unknown) =>
        err instanceof HiveError &&
        err.code === ErrorCode.InvalidArgument &&
        err.message.includes(long) &&
        err.message.includes("108 bytes, over the limit of 107 bytes"),
    );
    // 54 two-byte characters: 54 characters, 109 bytes with the slash.
    assert.throws(() => checkIpcPathLength(`/${"é".repeat(54)}`, "utf-8"), /109 bytes/);
  });
});
