/**
 * Real child processes: lines and JSON lines, bounded waits, and signals that reach the whole
 * process group (the child's own children included).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { afterEach, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ProcessRegistry, processes, type ManagedProcess } from "./processes.ts";

const FAMILY = new URL("./fixtures/family.ts", import.meta.url).pathname;

afterEach(() => processes.killAll());

/** The scheduler state letter of a pid (R, S, T, Z, ...), or "gone". */
function state(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return "gone";
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function family(p: ManagedProcess): Promise<{ pid: number; childPid: number }> {
  const ready = await p.waitForLine((l) => l.json?.event === "ready", 15_000);
  const { pid, childPid } = ready.json ?? {};
  assert.ok(typeof pid === "number" && typeof childPid === "number", ready.text);
  return { pid, childPid };
}

const dead = (pid: number) => (): boolean => ["gone", "Z"].includes(state(pid));

test("output is captured as lines, JSON lines parsed, from both streams", async () => {
  const p = processes.start(FAMILY);
  const { pid } = await family(p);
  assert.equal(pid, p.pid, "the tsx child is the group leader itself, not a wrapper");
  const plain = await p.waitForLine((l) => l.text === "not json", 5_000);
  assert.equal(plain.stream, "stderr");
  assert.equal(plain.json, undefined);
  // `since` skips what has been seen already.
  await assert.rejects(
    p.waitForLine((l) => l.json?.event === "ready", 200, { since: p.lineCount }),
    /no matching line within 200 ms/,
  );
});

test("waitForLine rejects, with the output's tail, when the process exits without a match", async () => {
  const p = processes.startCommand([process.execPath, "-e", "console.log('bye')"]);
  await assert.rejects(
    p.waitForLine(() => false, 10_000),
    /exited .* without a matching line[\s\S]*stdout: bye/,
  );
});

test("sigstop/sigcont freeze and thaw the whole group; sigkill kills it", async () => {
  const p = processes.start(FAMILY);
  const { pid, childPid } = await family(p);
  p.sigstop();
  await until("both stopped", () => state(pid) === "T" && state(childPid) === "T");
  p.sigcont();
  await until("both running", () => state(pid) !== "T" && state(childPid) !== "T");
  const exit = await p.sigkill();
  assert.equal(exit.signal, "SIGKILL");
  await until("grandchild gone", dead(childPid));
  assert.equal(p.alive, false);
});

test("stopGracefully: SIGTERM when obeyed, SIGKILL after the timeout when ignored; no stragglers", async () => {
  const polite = processes.start(FAMILY);
  const a = await family(polite);
  const first = await polite.stopGracefully(5_000);
  assert.deepEqual(first, { code: 0, signal: null, escalated: false });
  await until("polite grandchild gone", dead(a.childPid));

  const stubborn = processes.start(FAMILY, { args: ["--ignore-sigterm"] });
  const b = await family(stubborn);
  stubborn.sigstop(); // a stopped process must still be stopped
  const second = await stubborn.stopGracefully(300);
  assert.deepEqual(second, { code: null, signal: "SIGKILL", escalated: true });
  await until("stubborn grandchild gone", dead(b.childPid));
});

test("killAll kills every group still alive and is safe to repeat", async () => {
  const registry = new ProcessRegistry();
  const started = [registry.start(FAMILY), registry.start(FAMILY)];
  const pids = await Promise.all(started.map(family));
  await registry.killAll();
  for (const p of started) assert.equal(p.alive, false);
  for (const { childPid } of pids) await until("grandchild gone", dead(childPid));
  assert.deepEqual(registry.all, []);
  await registry.killAll();
});
