// spawnManaged against the real kernel: real processes, real signals, real cgroups where the
// machine has them (every test cleans up its processes, groups and files).
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { HiveError } from "../../core/hive-error.ts";
import type { Cgroup, CgroupDriver, CgroupLimits } from "../cgroups/cgroup.ts";
import { cleanUpTestCgroups, realCgroupsForTest } from "../cgroups/testing/real-cgroups.ts";
import { NoCgroupDriver } from "../cgroups/no-cgroup-driver.ts";
import { exitMarkerPath, logPath } from "./log-files.ts";
import type { ManagedProcess } from "./managed-process.ts";
import { readProcStat } from "./process-identity.ts";
import { assertNoDescendants, isGone, tempDir, waitFor } from "./testing/process-helpers.ts";
import { listDescendants, signalSnapshot, type ProcessIdentity } from "./process-tree.ts";
import { spawnManaged } from "./spawn-managed.ts";
import { rootForTest } from "../uids/testing/root-for-test.ts";
import type { SpawnSpec } from "./spawn-spec.ts";

const PYTHON = "/usr/bin/python3";
const env = await realCgroupsForTest();
const logs = await tempDir("hive-spawn-test");
const warnings: string[] = [];
after(async () => {
  try {
    await assertNoDescendants();
  } finally {
    await cleanUpTestCgroups(env);
    await logs.cleanup();
  }
});

let counter = 0;
/** A spec with a fresh deployment id and the test's log directory. */
function spec(command: string, args: string[], more: Partial<SpawnSpec> = {}): SpawnSpec {
  return { deploymentId: `d${++counter}`, command, args, env: {}, logDir: logs.path, graceMs: 300, ...more };
}

/** Spawns quietly (warnings are collected) and makes sure the process is gone at the end. */
async function start(
  t: { after: (fn: () => Promise<unknown>) => void },
  s: SpawnSpec,
): Promise<ManagedProcess> {
  const p = await spawnManaged(s, (m) => warnings.push(m));
  t.after(() => p.kill());
  return p;
}

/** A group from the real driver, destroyed after the test. */
async function group(
  t: { after: (fn: () => Promise<void>) => void },
  name: string,
  limits: CgroupLimits,
): Promise<Cgroup> {
  const g = await env.driver!.create(name, limits);
  t.after(() => g.destroy());
  return g;
}

const log = (id: string, stream: "stdout" | "stderr") => readFile(logPath(logs.path, id, stream), "utf8");

describe("spawnManaged: exits, signals, environment, logs", () => {
  it("runs a script with exactly the given environment and reports a non-zero exit as a failure", async (t) => {
    const s = spec(
      "/bin/sh",
      [
        "-c",
        'echo "id=$HIVE_DEPLOYMENT_ID home=$HOME secret=${SECRET-unset} cwd=$(pwd)"; echo oops >&2; exit 3',
      ],
      {
        env: { HIVE_DEPLOYMENT_ID: "dep-1" },
        cwd: "/tmp",
      },
    );
    process.env["SECRET"] = "runner-only";
    t.after(() => delete process.env["SECRET"]);
    const p = await start(t, s);
    assert.ok(p.pid > 0);
    const status = await p.exited;
    assert.deepEqual(status, { code: 3, signal: null, oomKilled: false, reason: "exited with code 3" });
    assert.equal(p.state, "failed");
    assert.equal(
      await log(s.deploymentId, "stdout"),
      `id=dep-1 home=${process.env["HOME"]} secret=unset cwd=/tmp\n`,
    );
    assert.equal(await log(s.deploymentId, "stderr"), "oops\n");
    assert.deepEqual(JSON.parse(await readFile(exitMarkerPath(logs.path, s.deploymentId), "utf8")), status);
  });

  it("runs python, and calls code 0 a clean exit", async (t) => {
    const s = spec(PYTHON, ["-c", "import sys; print('py', sys.version_info[0])"]);
    const p = await start(t, s);
    assert.equal((await p.exited).reason, "exited with code 0");
    assert.equal(p.state, "exited");
    assert.equal(await log(s.deploymentId, "stdout"), "py 3\n");
  });

  it("reports a signal it did not send as a failure", async (t) => {
    const p = await start(t, spec("sleep", ["30"]));
    assert.equal(p.state, "running");
    process.kill(p.pid, "SIGUSR1");
    assert.deepEqual(await p.exited, {
      code: null,
      signal: "SIGUSR1",
      oomKilled: false,
      reason: "killed by SIGUSR1",
    });
    assert.equal(p.state, "failed");
  });

  it("stops a process that honours SIGTERM without waiting for the grace period", async (t) => {
    const script =
      "import signal,sys,time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\nprint('up', flush=True)\ntime.sleep(30)";
    const s = spec(PYTHON, ["-c", script], { graceMs: 10_000 });
    const p = await start(t, s);
    await waitFor("python to start", async () => (await log(s.deploymentId, "stdout")) === "up\n");
    const begun = Date.now();
    const status = await p.stop();
    assert.ok(Date.now() - begun < 5_000, "well before the 10 s grace");
    assert.deepEqual(status, {
      code: 0,
      signal: null,
      oomKilled: false,
      reason: "exited with code 0 (stop requested)",
    });
    assert.equal(p.state, "killed");
    assert.equal(await p.stop(), status, "stop after the end returns the same status");
  });

  it("kill() is immediate", async (t) => {
    const p = await start(t, spec("sleep", ["30"]));
    assert.equal((await p.kill()).reason, "killed by SIGKILL (kill requested)");
    assert.equal(p.state, "killed");
  });

  it("kills what the main process left running in its group when it ends", async (t) => {
    const s = spec("/bin/sh", ["-c", "sleep 30 & echo $!"]);
    const p = await start(t, s);
    assert.equal((await p.exited).code, 0);
    const orphan = Number((await log(s.deploymentId, "stdout")).trim());
    await waitFor("the background sleep to be killed", () => isGone(orphan));
  });

  it("rejects with a HiveError when the executable does not exist, and closes the log", async () => {
    const s = spec("/nonexistent/strategy", []);
    await assert.rejects(
      spawnManaged(s),
      (e: unknown) =>
        e instanceof HiveError &&
        e.code === "failed_precondition" &&
        /\/nonexistent\/strategy.*ENOENT/.test(e.message),
    );
    assert.match(await readFile(exitMarkerPath(logs.path, s.deploymentId), "utf8"), /could not start/);
  });
});

/** The tree the stop tests kill: a main process and children that all ignore SIGTERM, one in its own session. */
const STUBBORN_TREE = [
  "trap '' TERM", // ignored dispositions are inherited: every descendant ignores SIGTERM too
  "sh -c 'setsid sleep 301 & exec sleep 302' &", // a child, and a grandchild in a new session
  "sleep 303 &",
  "echo started",
  "wait",
].join("\n");

/** Stops the stubborn tree and checks that everything in it is gone. */
async function stopStubbornTree(
  t: { after: (fn: () => Promise<unknown>) => void },
  driver: CgroupDriver,
  cgroup?: Cgroup,
) {
  const p = await start(t, spec("/bin/sh", ["-c", STUBBORN_TREE], { ...(cgroup ? { cgroup, driver } : {}) }));
  let tree: ProcessIdentity[] = [];
  t.after(() => signalSnapshot(tree, "SIGKILL")); // should the test fail half-way
  await waitFor("a child, and a grandchild in its own session", async () => {
    tree = await listDescendants(p.pid);
    const stats = await Promise.all(tree.map((d) => readProcStat(d.pid)));
    const sessions = await Promise.all(
      tree.map((d) => readFile(`/proc/${d.pid}/stat`, "utf8").catch(() => "")),
    );
    return (
      tree.length === 3 &&
      stats.every((s) => s?.comm === "sleep") &&
      sessions.some((x) => x.split(" ")[5] !== String(p.pid))
    );
  });
  const begun = Date.now();
  const status = await p.stop(300);
  assert.ok(Date.now() - begun >= 300, "SIGTERM was ignored, so the grace period ran out");
  assert.deepEqual(status, {
    code: null,
    signal: "SIGKILL",
    oomKilled: false,
    reason: "killed by SIGKILL (stop requested; still running after 300 ms grace)",
  });
  assert.equal(p.state, "killed");
  for (const pid of [p.pid, ...tree.map((d) => d.pid)]) assert.ok(await isGone(pid), `pid ${pid} is gone`);
  if (cgroup) assert.deepEqual(await cgroup.pids(), []);
}

describe("spawnManaged: stop of a whole tree", () => {
  it("without a cgroup: SIGTERM, then SIGKILL to the group and to every descendant seen at the stop", async (t) => {
    await stopStubbornTree(t, new NoCgroupDriver());
  });

  it("in a cgroup: SIGKILL reaches every pid in the group", { skip: env.skip }, async (t) => {
    await stopStubbornTree(t, env.driver!, await group(t, "tree", { pidsMax: 64 }));
  });
});

describe("spawnManaged: limits (real cgroups)", { skip: env.skip }, () => {
  it("a process over its memory limit is killed by the kernel and reported as out of memory", async (t) => {
    const cgroup = await group(t, "oom", { memoryBytes: 64 * 2 ** 20 });
    const s = spec(PYTHON, ["-c", "b = b'x' * (200 * 1024 * 1024); print('survived')"], {
      cgroup,
      driver: env.driver!,
    });
    const p = await start(t, s);
    const status = await p.exited;
    assert.deepEqual(status, {
      code: null,
      signal: "SIGKILL",
      oomKilled: true,
      reason: "killed by SIGKILL (out of memory: limit 64 MiB)",
    });
    assert.equal(p.state, "failed");
    assert.equal(await log(s.deploymentId, "stdout"), "", "it never got past the allocation");
    assert.equal((await cgroup.stats()).oomKills, 1);
  });

  it("a live process is pinned to its cores, with its CPU quota", async (t) => {
    const cgroup = await group(t, "pinned", { cpus: [1], cpuQuotaCores: 0.5 });
    const p = await start(t, spec("sleep", ["30"], { cgroup, driver: env.driver! }));
    // spawnManaged resolved only once the process was in its group, so this is already true:
    assert.match(await readFile(`/proc/${p.pid}/status`, "utf8"), /\nCpus_allowed_list:\s+1\n/);
    const v1 = env.driver!.kind === "v1";
    const dir = (controller: string) =>
      cgroup.paths.find((d) => d.includes(`/${controller}/`)) ?? cgroup.paths[0]!;
    const read = (c: string, f: string) => readFile(join(dir(c), f), "utf8").then((x) => x.trim());
    assert.equal(await read("cpuset", "cpuset.cpus"), "1");
    if (v1) {
      assert.equal(await read("cpu", "cpu.cfs_quota_us"), "50000");
      assert.equal(await read("cpu", "cpu.cfs_period_us"), "100000");
    } else assert.equal(await read("cpu", "cpu.max"), "50000 100000");
    assert.deepEqual(await cgroup.pids(), [p.pid]);
    await waitFor("the wrapper to exec sleep", async () => (await readProcStat(p.pid))?.comm === "sleep");
    await p.stop();
  });

  it("a command that cannot enter its group never runs (wrapper exit code 125)", async (t) => {
    const cgroup = await group(t, "vanishing", {});
    await cgroup.destroy(); // its directories are gone: the wrapper's writes fail
    const s = spec("/bin/echo", ["ran"], { cgroup, driver: env.driver! });
    const p = await start(t, s);
    assert.equal((await p.exited).reason, "exited with code 125");
    assert.equal(await log(s.deploymentId, "stdout"), "");
    assert.match(
      await log(s.deploymentId, "stderr"),
      /hive: cannot enter cgroup vanishing; not starting \/bin\/echo/,
    );
  });
});

describe("spawnManaged: under a deployment's uid", { skip: rootForTest("spawnManaged under a uid") }, () => {
  const runAs = { uid: 20_502, gid: 20_502 };
  // The process prints its own ids as the kernel sees them, from its first instruction on.
  const ids = [
    "-c",
    'grep -E "^(Uid|Gid|Groups):" /proc/self/status; echo "cg=$(cat /proc/self/cgroup | grep memory)"',
  ];
  const expected = (cg: string) =>
    new RegExp(
      `^Uid:\\t20502\\t20502\\t20502\\t20502\\nGid:\\t20502\\t20502\\t20502\\t20502\\nGroups:\\s*\\ncg=.*${cg}`,
    );

  it("without a cgroup: real, effective, saved and filesystem uid and gid are the deployment's, no groups", async (t) => {
    const s = spec("/bin/sh", ids, { runAs });
    const p = await start(t, s);
    assert.equal((await p.exited).code, 0, await log(s.deploymentId, "stderr"));
    assert.match(await log(s.deploymentId, "stdout"), expected(""));
  });

  it(
    "in a cgroup: it enters its group as root, then runs as the deployment's uid (setpriv)",
    { skip: env.skip },
    async (t) => {
      const s = spec("/bin/sh", ids, { runAs });
      const g = await group(t, s.deploymentId, { memoryBytes: 64 * 2 ** 20 });
      const p = await start(t, { ...s, cgroup: g, driver: env.driver });
      assert.equal((await p.exited).code, 0, await log(s.deploymentId, "stderr"));
      assert.match(await log(s.deploymentId, "stdout"), expected(`${env.parent}/${s.deploymentId}`));
    },
  );

  it("a program the uid cannot run fails to start, naming the uid", async (t) => {
    const dir = await tempDir("hive-spawn-uid"); // 0700, root's
    t.after(() => dir.cleanup());
    await writeFile(join(dir.path, "x"), "#!/bin/sh\n", { mode: 0o755 });
    await assert.rejects(spawnManaged(spec(join(dir.path, "x"), [], { runAs })), (err: HiveError) => {
      assert.match(err.message, /as uid 20502 \(gid 20502\): EACCES/);
      return true;
    });
  });
});

describe("spawnManaged: warnings", () => {
  it("were only the expected ones", () => {
    assert.deepEqual(
      warnings.filter((w) => !/cgroup vanishing/.test(w)),
      [],
    );
  });
});
