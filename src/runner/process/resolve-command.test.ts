import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { resolveCommand } from "./resolve-command.ts";

test("a bare name is found in PATH; a path must be an executable file", async () => {
  assert.equal(await resolveCommand("sh", { path: "/nonexistent:/bin" }), "/bin/sh");
  assert.equal(await resolveCommand("/bin/sh"), "/bin/sh");
  await assert.rejects(resolveCommand("no-such-strategy-xyz"), /"no-such-strategy-xyz": not found in PATH/);
  const dir = mkdtempSync(join(tmpdir(), "hive-cmd-"));
  try {
    writeFileSync(join(dir, "data.csv"), "not a program", { mode: 0o644 });
    await assert.rejects(resolveCommand(join(dir, "data.csv")), /no executable file there/);
  } finally {
    rmSync(dir, { recursive: true });
  }
  await assert.rejects(resolveCommand("/tmp"), /no executable file there/);
});
