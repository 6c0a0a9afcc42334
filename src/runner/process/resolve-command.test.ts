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

test("for a deployment's uid, a PATH entry it cannot reach is skipped, and a refusal names the path and the uid", async (t) => {
  if (process.geteuid?.() !== 0)
    return t.skip("needs root: the temp directory must be one another uid cannot enter");
  const runAs = { uid: 20_501, gid: 20_501 };
  const hidden = mkdtempSync(join(tmpdir(), "hive-cmd-")); // 0700, root's: like /root/.pyenv/shims
  try {
    writeFileSync(join(hidden, "sh"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(
      await resolveCommand("sh", { path: `${hidden}:/bin` }),
      join(hidden, "sh"),
      "root finds the first",
    );
    assert.equal(
      await resolveCommand("sh", { path: `${hidden}:/bin`, runAs }),
      "/bin/sh",
      "the uid, the one it can run",
    );
    await assert.rejects(resolveCommand(join(hidden, "sh"), { runAs }), (err: Error & { code?: string }) => {
      assert.equal(err.code, "failed_precondition");
      assert.match(err.message, /not executable by the deployment's uid 20501 \(gid 20501\)/);
      assert.ok(err.message.includes(`cannot search ${hidden} is 0700 owned by 0:0`), err.message);
      return true;
    });
    await assert.rejects(
      resolveCommand("/bin/sh", { runAs, cwd: hidden }),
      /working directory .*: the deployment's uid 20501 \(gid 20501\) cannot enter it/,
    );
  } finally {
    rmSync(hidden, { recursive: true });
  }
});
