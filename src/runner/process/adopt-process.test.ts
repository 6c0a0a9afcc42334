// A runner restart, for real: an "old runner" process (testing/old-runner-child.ts) starts a process
// with a state directory and dies; the test, as the new runner, adopts it from its record.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cleanUpTestCgroups, realCgroupsForTest } from "../cgroups/testing/real-cgroups.ts";
import type { CgroupLimits } from "../cgroups/cgroup.ts";
import { adoptProcess } from "./adopt-process.ts";
import { exitMarkerPath, logPath } from "./log-files.ts";
import type { OldRunnerJob } from "./testing/old-runner-child.ts";
import { ProcessHandle } from "./process-handle.ts";
import { loadRecords, type ProcessRecord } from "./process-record.ts";
import { readBootId, readProcStat } from "./process-identity.ts";
import { assertNoDescendants, isGone, tempDir, waitFor } from "./testing/process-helpers.ts";
import { recoverProcesses } from "./recover-processes.ts";

const env = await realCgroupsForTest();
const dir = await tempDir("hive-adopt-test");
const logDir = join(dir.path, "logs");
const stateDir = join(dir.path, "state");
const strays: number[] = [];
// The poll timer of an adopted process is unref'd, as it must be in the runner; this keeps the
// test process alive while a test waits for such a process to end.
const keepAlive = setInterval(() => undefined, 1_000);
after(async () => {
  clearInterval(keepAlive);
  for (const pid of strays) if (!(await isGone(pid))) process.kill(pid, "SIGKILL");
  try {
    await assertNoDescendants();
  } finally {
    await cleanUpTestCgroups(env);
    await dir.cleanup();
  }
});

/** Runs the "old runner" to start a process, and returns that process's pid once the old runner is dead. */
function startWithOldRunner(
  deploymentId: string,
  command: string,
  args: string[],
  limits?: CgroupLimits,
  parent: string | undefined = env.driver ? env.parent : undefined,
): number {
  const job: OldRunnerJob = {
    parent,
    deploymentId,
    command,
    args,
    limits,
    logDir,
    stateDir,
  };
  const fixture = new URL("./testing/old-runner-child.ts", import.meta.url).pathname;
  const run = spawnSync(process.execPath, ["--import", "tsx", fixture, JSON.stringify(job)], {
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  const { pid } = JSON.parse(run.stdout) as { pid: number };
  strays.push(pid);
  return pid;
}

/** The record of a deployment in the state directory. */
async function recordOf(deploymentId: string): Promise<ProcessRecord> {
  const record = (await loadRecords(stateDir)).records.find((r) => r.deploymentId === deploymentId);
  assert.ok(record, `a record for ${deploymentId}`);
  return record;
}

const limits = env.driver ? { memoryBytes: 64 * 2 ** 20 } : undefined;

describe("adoptProcess after a runner restart", () => {
  it("re-adopts a live process from its record, and sees it end when it is killed from outside", async (t) => {
    const pid = startWithOldRunner("survivor", "sleep", ["300"], limits);
    const record = await recordOf("survivor");
    assert.equal(record.pid, pid);
    assert.equal(record.startTime, (await readProcStat(pid))?.startTime);
    const p = await adoptProcess(record, { driver: env.driver, stateDir, pollMs: 20 });
    t.after(() => p.cgroup?.destroy());
    assert.equal(p.state, "running");
    assert.equal(p.adopted, true);
    assert.equal(p.pid, pid);
    if (env.driver) assert.equal(await p.cgroup?.holds(pid), true, "its cgroup was re-opened");
    process.kill(pid, "SIGKILL");
    const status = await p.exited;
    assert.equal(p.state, "failed");
    assert.deepEqual(status, {
      code: null,
      signal: null,
      oomKilled: false,
      reason: "exited while the runner was not watching (exit code unknown: adopted after a runner restart)",
    });
    assert.deepEqual((await loadRecords(stateDir)).records, [], "the record is gone");
    assert.deepEqual(JSON.parse(await readFile(exitMarkerPath(logDir, "survivor"), "utf8")), status);
  });

  it("stops an adopted process with SIGTERM", async (t) => {
    const pid = startWithOldRunner("stoppable", "sleep", ["300"], limits);
    const p = await adoptProcess(await recordOf("stoppable"), { driver: env.driver, stateDir, pollMs: 20 });
    t.after(() => p.cgroup?.destroy());
    const status = await p.stop();
    assert.equal(status.reason, "exited (stop requested)");
    assert.equal(p.state, "killed");
    assert.ok(await isGone(pid));
  });

  it("kills what is left of its group when an adopted leader ends, also without a cgroup", async () => {
    // No cgroup (as with the none driver): only the process group still finds the background sleep.
    startWithOldRunner("leader-ends", "sh", ["-c", "sleep 300 & echo $!; sleep 0.5"], undefined, undefined);
    const p = await adoptProcess(await recordOf("leader-ends"), { stateDir, pollMs: 20 });
    assert.equal(p.cgroup, undefined);
    const stdout = logPath(logDir, "leader-ends", "stdout");
    await waitFor(
      "the background pid in the log",
      async () => (await readFile(stdout, "utf8").catch(() => "")).trim() !== "",
    );
    const left = Number((await readFile(stdout, "utf8")).trim());
    strays.push(left);
    assert.equal((await readProcStat(left))?.pgrp, p.pid, "the background sleep is in the leader's group");
    await p.exited;
    assert.ok(await isGone(left), "the leader's background child was killed with it");
  });

  it("does not signal a stranger that got a dead adopted leader's pid and leads a group of its own", async () => {
    // The stranger is a new process holding the recorded pid; like everything a runner spawns, it
    // leads its own group, whose id is that pid.
    const stranger = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
    stranger.unref();
    const pid = stranger.pid ?? 0;
    strays.push(pid);
    await waitFor("the stranger running", async () => (await readProcStat(pid))?.pgrp === pid);
    const handle = new ProcessHandle({
      deploymentId: "dead-leader",
      pid,
      startedAt: new Date(),
      adopted: true,
      cgroup: undefined,
      oomBaseline: 0,
      graceMs: 100,
      logDir,
      capper: undefined,
      stateDir: undefined,
      startTime: "1", // the recorded process's start time: not the stranger's
      warn: () => undefined,
    });
    // kill() resolves when the end is observed, and this handle watches nothing: it never does.
    // Its signals go out within the first moment; the stranger is watched for a second after.
    void handle.kill();
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await isGone(pid), false, "the stranger and its group were left alone");
    }
  });

  it("still tells an OOM kill from its cgroup", { skip: env.skip }, async (t) => {
    const script = "import time\ntime.sleep(0.3)\nb = b'x' * (200 * 1024 * 1024)";
    startWithOldRunner("oom-later", "/usr/bin/python3", ["-c", script], { memoryBytes: 64 * 2 ** 20 });
    const p = await adoptProcess(await recordOf("oom-later"), { driver: env.driver, stateDir, pollMs: 20 });
    t.after(() => p.cgroup?.destroy());
    assert.equal(p.state, "running");
    assert.deepEqual(await p.exited, {
      code: null,
      signal: null,
      oomKilled: true,
      reason: "killed (out of memory: limit 64 MiB)",
    });
  });

  it("reports a recorded process that is gone, or whose pid now belongs to another process, as ended", async () => {
    const record: ProcessRecord = {
      version: 1,
      deploymentId: "reused",
      pid: process.pid, // alive, but not the recorded process: its start time differs
      startTime: "1",
      bootId: await readBootId(),
      startedAt: new Date().toISOString(),
      command: "sleep",
      args: [],
      logDir,
      logCapBytes: 1024,
      graceMs: 100,
    };
    const p = await adoptProcess(record);
    assert.match((await p.exited).reason, /exit code unknown/);
    assert.equal(p.state, "failed");
    const rebooted = await adoptProcess({
      ...record,
      deploymentId: "rebooted",
      startTime: (await readProcStat(process.pid))!.startTime,
      bootId: "another-boot",
    });
    assert.equal((await rebooted.exited).code, null);
    assert.equal(rebooted.state, "failed", "a record from before a reboot is never this process");
  });
});

describe("recoverProcesses", { skip: env.skip }, () => {
  it("adopts recorded processes, kills groups nobody recorded, removes empty ones, lists bad records", async (t) => {
    const driver = env.driver!;
    const pid = startWithOldRunner("recorded", "sleep", ["300"], { memoryBytes: 64 * 2 ** 20 });
    // A group whose record is lost, still running something, and an empty one.
    const orphan = await driver.create("orphan", {});
    const wrapped = driver.wrapCommand(orphan, "sleep", ["300"]);
    const child = spawn(wrapped.command, wrapped.args, { stdio: "ignore", detached: true });
    const orphanPid = child.pid!;
    strays.push(orphanPid);
    const orphanExit = once(child, "exit");
    await waitFor("the orphan to enter its group", () => orphan.holds(orphanPid));
    await driver.create("empty-orphan", {});
    await writeFile(join(stateDir, "garbage.json"), "{not json");

    const recovery = await recoverProcesses({ stateDir, driver, pollMs: 20 });
    t.after(async () => {
      for (const p of recovery.processes) {
        await p.kill();
        await p.cgroup?.destroy();
      }
    });
    assert.deepEqual(
      recovery.processes.map((p) => [p.deploymentId, p.pid, p.state]),
      [["recorded", pid, "running"]],
    );
    assert.deepEqual(recovery.killedGroups, ["orphan"]);
    assert.deepEqual(recovery.removedGroups, ["empty-orphan"]);
    assert.deepEqual(
      recovery.invalid.map((i) => i.file),
      [join(stateDir, "garbage.json")],
    );
    assert.deepEqual(await orphanExit, [null, "SIGKILL"], "the orphan group's process was killed");
    assert.deepEqual(await driver.list(), ["recorded"]);
  });
});
