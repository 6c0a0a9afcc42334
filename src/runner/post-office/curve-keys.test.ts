import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { curvePublicKeyOf, generateCurveKeyPair, loadCurveKeyPair } from "./curve-keys.ts";
import { Z85_KEY } from "../../core/z85.ts";

const dir = mkdtempSync(join(tmpdir(), "hive-curve-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("the runner's CURVE key pair", () => {
  test("the public key derived from a secret key is libzmq's", () => {
    for (let i = 0; i < 20; i++) {
      const pair = generateCurveKeyPair();
      assert.match(pair.publicKey, Z85_KEY);
      assert.equal(curvePublicKeyOf(pair.secretKey), pair.publicKey);
    }
  });

  test("without a file: a fresh pair at every start", () => {
    const a = loadCurveKeyPair(undefined);
    const b = loadCurveKeyPair(undefined);
    assert.equal(a.source, "generated");
    assert.notEqual(a.keys.publicKey, b.keys.publicKey);
  });

  test("a missing key file is created (secret 0600, public in .pub) and read back the same", () => {
    const file = join(dir, "sub", "runner.key");
    const created = loadCurveKeyPair(file);
    assert.equal(created.source, "file-created");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, "utf8").trim(), created.keys.secretKey);
    assert.equal(readFileSync(`${file}.pub`, "utf8").trim(), created.keys.publicKey);
    const again = loadCurveKeyPair(file);
    assert.equal(again.source, "file");
    assert.deepEqual(again.keys, created.keys);
  });

  test("refuses a secret key others can read, a file without a key, a .pub that does not match", () => {
    const file = join(dir, "open.key");
    writeFileSync(file, `${generateCurveKeyPair().secretKey}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    assert.throws(() => loadCurveKeyPair(file), /mode 0644 lets group or others read it; expected 0600/);
    const link = join(dir, "link.key");
    symlinkSync(join(dir, "sub", "runner.key"), link);
    assert.throws(() => loadCurveKeyPair(link), /link\.key: is a symbolic link/);
    const junk = join(dir, "junk.key");
    writeFileSync(junk, "not a key\n", { mode: 0o600 });
    assert.throws(() => loadCurveKeyPair(junk), /junk\.key: expected a CURVE secret key in Z85/);
    const mismatched = join(dir, "mismatch.key");
    writeFileSync(mismatched, `${generateCurveKeyPair().secretKey}\n`, { mode: 0o600 });
    writeFileSync(`${mismatched}.pub`, `${generateCurveKeyPair().publicKey}\n`);
    assert.throws(() => loadCurveKeyPair(mismatched), /mismatch\.key\.pub: holds .* but the public key of/);
  });
});
