import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { shellQuote, wrapInCgroup, WRAPPER_FAILED_EXIT_CODE } from "./wrap-command.ts";

const dir = await mkdtemp(join(tmpdir(), "hive-wrap-"));
after(() => rm(dir, { recursive: true, force: true }));

/** Runs a wrapped command and returns what it printed and how it ended. */
function run(wrapped: { command: string; args: string[] }) {
  const result = spawnSync(wrapped.command, wrapped.args, { encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, pid: result.pid };
}

describe("wrapInCgroup", () => {
  it("writes its own pid to every procs file, then execs the command with its arguments intact", async () => {
    // Regular files stand in for cgroup.procs; one path has a quote and a space in it.
    const a = join(dir, "a procs");
    const b = join(dir, "it's.procs");
    await writeFile(a, "");
    await writeFile(b, "");
    const args = ["-c", 'printf "%s|" "$$" "$@"', "sh", "two words", "it's", "$HOME", ""];
    const out = run(wrapInCgroup([a, b], "/bin/sh", args, "g1"));
    assert.equal(out.status, 0, out.stderr);
    const [pid, ...rest] = out.stdout.split("|");
    assert.equal(Number(pid), out.pid, "exec keeps the pid that entered the group");
    assert.deepEqual(rest, ["two words", "it's", "$HOME", "", ""]);
    assert.equal((await readFile(a, "utf8")).trim(), String(out.pid));
    assert.equal((await readFile(b, "utf8")).trim(), String(out.pid));
  });

  it("does not run the command when it cannot enter the group", () => {
    const marker = join(dir, "ran");
    const out = run(wrapInCgroup([join(dir, "missing-dir", "cgroup.procs")], "/bin/touch", [marker], "g2"));
    assert.equal(out.status, WRAPPER_FAILED_EXIT_CODE);
    assert.match(out.stderr, /hive: cannot enter cgroup g2; not starting \/bin\/touch/);
    assert.equal(spawnSync("test", ["-e", marker]).status, 1, "the command never ran");
  });

  it("leaves the command alone when there is nothing to enter", () => {
    assert.deepEqual(wrapInCgroup([], "/bin/true", ["x"], "g"), { command: "/bin/true", args: ["x"] });
  });

  it("quotes for sh", () => {
    assert.equal(shellQuote("a'b c"), `'a'\\''b c'`);
  });
});
