/**
 * Test support for the process supervisor's tests: temporary directories that are removed
 * afterwards, polling, and the check that a test file left no process of its own behind.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readProcStat } from "../process-identity.ts";
import { listDescendants } from "../process-tree.ts";
import { pidAlive } from "../process-identity.ts";

/** A fresh temporary directory; `cleanup` removes it and everything in it. */
export async function tempDir(prefix: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Polls `check` every 5 ms until it holds, or fails after `timeoutMs` saying what was awaited. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Whether `pid` is gone (no such process, or a zombie waiting for init): pidAlive's opposite. */
export function isGone(pid: number): Promise<boolean> {
  return Promise.resolve(!pidAlive(pid));
}

/**
 * Asserts that no process the supervisor started is left: every descendant of this test process
 * that runs in a session of its own (spawnManaged starts each process as a session leader; the
 * test runner's helpers, such as tsx's esbuild service, share our session).
 */
export async function assertNoDescendants(): Promise<void> {
  const own = (await readProcStat(process.pid))?.session;
  const left: string[] = [];
  for (const p of await listDescendants(process.pid)) {
    const stat = await readProcStat(p.pid);
    if (stat === undefined || stat.session === own) continue;
    const cmdline = await readFile(`/proc/${p.pid}/cmdline`, "utf8").catch(() => "?");
    left.push(`${p.pid} (${cmdline.replaceAll("\0", " ").trim()})`);
  }
  assert.deepEqual(left, [], "processes left behind by the tests");
}
