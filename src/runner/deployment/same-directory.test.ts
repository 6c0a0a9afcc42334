import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { sameDirectory } from "./same-directory.ts";

const dir = mkdtempSync(join(tmpdir(), "hive-samedir-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("one directory however it is spelled or linked; two directories are two", () => {
  const run = join(dir, "run");
  const other = join(dir, "other");
  mkdirSync(run);
  mkdirSync(other);
  symlinkSync(run, join(dir, "link"));
  assert.equal(sameDirectory(run, `${run}/`), true);
  assert.equal(sameDirectory(run, join(dir, "x", "..", "run")), true);
  assert.equal(sameDirectory(join(dir, "link"), run), true, "a symlink to it");
  assert.equal(sameDirectory(run, other), false);
  assert.equal(sameDirectory(join(dir, "gone"), run), false, "a path that does not exist");
});
