import assert from "node:assert/strict";
import { chmodSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import type { HiveError } from "./hive-error.ts";
import { ErrorCode } from "./hive-error.ts";
import { readSecretFile, readSecretFileIfExists, writeSecretFile } from "./secret-file.ts";
import { tempDirs } from "./testing/temp-dirs.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

test("a secret file group or others may read is refused, naming the path and its mode", () => {
  const dir = dirs.make("hive-secret-");
  const file = join(dir, "token");
  writeFileSync(file, "s3cret\n", { mode: 0o600 });
  assert.equal(readSecretFile("join token", file), "s3cret\n");
  for (const mode of [0o640, 0o604, 0o644, 0o660]) {
    chmodSync(file, mode);
    assert.throws(
      () => readSecretFile("join token", file),
      (err: HiveError) =>
        err.code === ErrorCode.FailedPrecondition &&
        err.message.includes(`join token ${file}: mode 0${mode.toString(8)}`) &&
        err.message.includes("expected 0600"),
    );
  }
  chmodSync(file, 0o400);
  assert.equal(readSecretFile("join token", file), "s3cret\n");
});

test("a symbolic link is not followed; a missing file is NotFound (or undefined)", () => {
  const dir = dirs.make("hive-secret-");
  const file = join(dir, "key");
  writeFileSync(file, "k", { mode: 0o600 });
  symlinkSync(file, join(dir, "link"));
  assert.throws(() => readSecretFile("key", join(dir, "link")), /symbolic link/);
  assert.throws(
    () => readSecretFile("key", join(dir, "none")),
    (e: HiveError) => e.code === ErrorCode.NotFound,
  );
  assert.equal(readSecretFileIfExists("key", join(dir, "none")), undefined);
});

test("secrets are written 0600 in a 0700 directory, whatever the umask", () => {
  const dir = dirs.make("hive-secret-");
  const old = process.umask(0);
  try {
    const file = join(dir, "sub", "key");
    writeSecretFile(file, "a");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "sub")).mode & 0o777, 0o700);
    writeSecretFile(file, "b");
    assert.equal(readSecretFile("key", file), "b");
    assert.throws(() => writeSecretFile(file, "c", { exclusive: true }), /EEXIST/);
  } finally {
    process.umask(old);
  }
});

test("every loader of a CURVE secret key refuses one others may read, with the path and the mode", async () => {
  const { loadOrCreateKeyPair } = await import("../gateway/keys.ts");
  const { loadCurveKeyPair } = await import("../runner/post-office/curve-keys.ts");
  const dir = dirs.make("hive-secret-");
  const gateway = join(dir, "gateway.key");
  loadOrCreateKeyPair(gateway);
  chmodSync(gateway, 0o644);
  assert.throws(
    () => loadOrCreateKeyPair(gateway),
    new RegExp(`${gateway}: mode 0644 lets group or others read it`),
  );
  const runner = join(dir, "runner.key");
  loadCurveKeyPair(runner);
  chmodSync(runner, 0o640);
  assert.throws(
    () => loadCurveKeyPair(runner),
    new RegExp(`${runner}: mode 0640 lets group or others read it`),
  );
});
