/**
 * Strategies without root, on the real kernel: a real runner (real cgroups where writable, real
 * processes under real uids, the ZeroMQ post office, datasets in /dev/shm) driven through the
 * runner protocol by the orchestrator stub. Strategies (a Node one and a Python/pyzmq one) try
 * what a deployment must not be able to do and report what the kernel answered. Needs root: it
 * is skipped without (and fails under CI=true).
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { silentLogger } from "../../core/logger.ts";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import { DatasetState, SocketDirection, SocketPattern, SpawnRequestSchema } from "../../protocol/index.ts";
import { cleanUpTestCgroups, realCgroupsForTest, type RealCgroups } from "../cgroups/testing/real-cgroups.ts";
import { NoCgroupDriver } from "../cgroups/index.ts";
import { createRunner } from "../create-runner.ts";
import type { Runner } from "../runner.ts";
import { compileRunnerOptions } from "../runner-options.ts";
import { FakeOrchestrator, type FakeOrchestratorSession } from "../testing/fake-orchestrator.ts";
import { rootForTest, uniqueTestUids } from "./testing/root-for-test.ts";

const PYTHON = "/usr/bin/python3";
const skip = rootForTest("strategies-without-root.test.ts");
const hasPyzmq = skip === false && spawnSync(PYTHON, ["-c", "import zmq"]).status === 0;
if (skip === false && !hasPyzmq && process.env["CI"] === "true")
  throw new Error(`CI=true: pyzmq is not installed for ${PYTHON} (apt-get install python3-zmq)`);

const dirs = tempDirs();
const runners: Runner[] = [];
const uids = uniqueTestUids(4);
const firstPort = 33_000 + (process.pid % 50) * 40;
let cg: RealCgroups;
let stub: FakeOrchestrator;
let session: FakeOrchestratorSession;
let state = "";
let run = "";
let data = "";
let drop = "";
let programs = "";
let sources = "";

before(async () => {
  if (skip) return;
  cg = await realCgroupsForTest();
  stub = await FakeOrchestrator.start({ heartbeatIntervalMs: 50, leaseTtlMs: 5_000 });
  state = dirs.make("hive-su-");
  run = dirs.make("hsu-");
  data = dirs.make("hive-sud-", "/dev/shm");
  drop = dirs.make("hive-sux-");
  programs = dirs.make("hive-sup-");
  sources = dirs.make("hive-sus-");
  // mkdtemp makes 0700 directories. The deployments pass through the run and dataset directories,
  // write their reports in a drop box (like /tmp) and run programs from a readable directory.
  chmodSync(run, 0o711);
  chmodSync(data, 0o711);
  chmodSync(drop, 0o1777);
  chmodSync(programs, 0o755);
  for (const f of ["probe-strategy.mjs", "probe_strategy.py"])
    copyFileSync(join(import.meta.dirname, "testing", f), join(programs, f));
  writeFileSync(join(sources, "ticks.csv"), "ts,price\n1,2\n");
});

after(async () => {
  if (skip) return;
  for (const r of runners) await r.close({ stopDeployments: true });
  await stub?.close();
  await cleanUpTestCgroups(cg);
  dirs.removeAll();
});

async function startRunner(): Promise<Runner> {
  const options = compileRunnerOptions({
    nodeId: "su-1",
    pool: "live",
    orchestrators: [stub.url],
    portRange: { first: firstPort, last: firstPort + 19 },
    deploymentUids: uids,
    stateDir: state,
    runDir: run,
    datasets: { dir: join(data, "datasets"), budget: "16MiB" },
    stopGraceMs: 1_000,
    curveKeyFile: join(state, "keys", "runner.key"),
  });
  const runner = await createRunner(options, {
    cgroups: cg.driver ?? new NoCgroupDriver(["no writable cgroups here"]),
    log: silentLogger(),
  });
  runners.push(runner);
  await runner.start();
  return runner;
}

function spawn(id: string, command: string, args: string[], env: Record<string, string> = {}) {
  session.send({
    case: "spawnRequest",
    value: create(SpawnRequestSchema, {
      requestId: `req-${id}-${Math.random()}`,
      deploymentId: id,
      layout: "su",
      service: id,
      epoch: 1n,
      command,
      args,
      env,
      resources: { cores: 0.5, memoryBytes: 256n * 2n ** 20n },
      sockets: [{ name: "market_data", pattern: SocketPattern.SUB, direction: SocketDirection.CONSUME }],
      datasets: [{ name: "ticks", id: "ticks", version: "1" }],
    }),
  });
  return session.next("spawnResponse", (r) => r.deploymentId === id);
}

/**
 * The Uid, Gid and Groups lines of /proc/<pid>/status, as numbers, once the process is no longer
 * root: in a cgroup, the pid is answered once it has entered its group, a moment before the wrapper
 * execs setpriv, which takes the deployment's uid and execs the program (drop-privileges.ts).
 */
async function credentials(pid: number): Promise<{ uid: number[]; gid: number[]; groups: number[] }> {
  const end = Date.now() + 5_000;
  for (;;) {
    const c = readCredentials(pid);
    if (c.uid[0] !== 0 || Date.now() > end) return c;
    await new Promise((r) => setTimeout(r, 5));
  }
}

function readCredentials(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) =>
    (status.split("\n").find((l) => l.startsWith(`${name}:`)) ?? "")
      .slice(name.length + 1)
      .trim()
      .split(/\s+/)
      .filter((x) => x !== "")
      .map(Number);
  return { uid: field("Uid"), gid: field("Gid"), groups: field("Groups") };
}

async function waitForFile(file: string, ms = 15_000): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  while (!existsSync(file)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${file}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

const socketOf = (id: string) => join(run, "strategies", id, "market_data");

describe("strategies without root", { skip }, () => {
  const pids: Record<string, number> = {};

  test("each deployment runs under a uid and gid of its own, never 0, with no groups", async () => {
    await startRunner();
    session = await stub.waitForRunner("su-1");
    session.send({
      case: "datasetLoad",
      value: { id: "ticks", version: "1", sourcePath: join(sources, "ticks.csv"), sizeBytes: 13n },
    });
    await session.next("datasetStatus", (s) => s.id === "ticks" && s.state === DatasetState.HOT);
    const b = await spawn("dep-b", process.execPath, ["-e", "setInterval(() => {}, 1000)"]);
    assert.equal(b.ok, true, b.error?.message);
    pids["dep-b"] = b.pid;
    const report = join(drop, "a.json");
    const a = await spawn("dep-a", process.execPath, [join(programs, "probe-strategy.mjs")], {
      PROBE_OUT: report,
      PROBE_OTHER_SOCKET: socketOf("dep-b"),
      PROBE_OTHER_PID: String(b.pid),
      PROBE_KEY: join(state, "keys", "runner.key"),
      PROBE_RECORD: join(state, "deployments", "dep-b.json"),
      PROBE_STRATEGIES: join(run, "strategies"),
      PROBE_RUN: run,
      PROBE_STATE: state,
    });
    assert.equal(a.ok, true, a.error?.message);
    pids["dep-a"] = a.pid;
    const ca = await credentials(a.pid);
    const cb = await credentials(b.pid);
    for (const c of [ca, cb]) {
      // Real, effective, saved and filesystem ids: all the deployment's.
      assert.equal(new Set(c.uid).size, 1, `one uid in ${c.uid.join(" ")}`);
      assert.equal(new Set(c.gid).size, 1, `one gid in ${c.gid.join(" ")}`);
      assert.ok(c.uid[0]! >= uids.first && c.uid[0]! <= uids.last, `uid ${c.uid[0]} in the range`);
      assert.notEqual(c.uid[0], 0);
      assert.equal(c.gid[0], c.uid[0]);
      assert.deepEqual(c.groups, [], "no supplementary groups");
    }
    assert.notEqual(ca.uid[0], cb.uid[0], "two deployments, two uids");
    assert.equal(existsSync(join(state, "deployments", "dep-b.json")), true);
    const record = JSON.parse(readFileSync(join(state, "deployments", "dep-b.json"), "utf8")) as {
      runAs?: { uid: number };
    };
    assert.equal(record.runAs?.uid, cb.uid[0], "the uid is kept in the deployment's record");

    const r = await waitForFile(report);
    assert.match(String(r.uid), new RegExp(`^Uid:\\s+${ca.uid[0]}\\s`));
    assert.equal(r.ownSocket, "ok", "it connects to its own ipc socket");
    assert.equal(r.otherSocket, "EACCES", "not to another deployment's");
    assert.equal(r.curveKey, "EACCES", "the runner's CURVE secret is out of reach");
    assert.equal(r.record, "EACCES", "deployment records are out of reach");
    assert.equal(r.listStrategies, "EACCES", "the ipc directories cannot be listed");
    assert.equal(r.listRun, "EACCES", "the run directory cannot be listed");
    assert.equal(r.listState, "EACCES", "the state directory cannot be entered");
    assert.equal(r.otherEnviron, "EACCES", "another deployment's environment is out of reach");
    assert.equal(r.datasetRead, "ok", "datasets are readable");
    assert.equal(r.datasetWrite, "EACCES", "and not writable");
    assert.equal(r.datasetCreate, "EACCES", "nothing can be planted beside them");
    assert.equal(r.home, join(run, "strategies", "dep-a"), "HOME is its own directory");
    assert.equal(r.homeWrite, "ok", "which it can write");
  });

  test(
    "a Python strategy (pyzmq) connects to its own ipc socket and not to another's",
    {
      skip: hasPyzmq ? false : `pyzmq is not installed for ${PYTHON} (apt-get install python3-zmq)`,
    },
    async () => {
      const report = join(drop, "py.json");
      const p = await spawn("dep-py", PYTHON, [join(programs, "probe_strategy.py")], {
        PROBE_OUT: report,
        PROBE_OTHER_SOCKET: socketOf("dep-b"),
      });
      assert.equal(p.ok, true, p.error?.message);
      pids["dep-py"] = p.pid;
      assert.deepEqual(await waitForFile(report), { own: true, other: false });
    },
  );

  test("a command the deployment's uid cannot execute is refused with its path and the uid", async () => {
    const hidden = dirs.make("hive-suh-"); // 0700, root's
    const script = join(hidden, "strategy.sh");
    writeFileSync(script, "#!/bin/sh\nsleep 60\n", { mode: 0o755 });
    const e = await spawn("dep-e", script, []);
    assert.equal(e.ok, false);
    assert.match(e.error?.message ?? "", new RegExp(`${script.replaceAll("/", "\\/")}.*uid \\d+`));
    assert.match(e.error?.message ?? "", new RegExp(`cannot search ${hidden} is 0700 owned by 0:0`));
  });

  test("a symbolic link in a dataset source fails the load with its path, inside or outside", async () => {
    const source = dirs.make("hive-sul-");
    mkdirSync(join(source, "day"));
    writeFileSync(join(source, "day", "ticks.csv"), "1,2\n");
    symlinkSync(join(source, "day", "ticks.csv"), join(source, "inside"));
    session.send({
      case: "datasetLoad",
      value: { id: "in", version: "1", sourcePath: source, sizeBytes: 4n },
    });
    const inside = await session.next(
      "datasetStatus",
      (s) => s.id === "in" && s.state === DatasetState.FAILED,
    );
    assert.match(inside.error?.message ?? "", new RegExp(`${join(source, "inside")}: it is a symbolic link`));
    const outside = dirs.make("hive-sul-");
    symlinkSync(join(state, "keys", "runner.key"), join(outside, "key"));
    session.send({
      case: "datasetLoad",
      value: { id: "out", version: "1", sourcePath: outside, sizeBytes: 40n },
    });
    const out = await session.next("datasetStatus", (s) => s.id === "out" && s.state === DatasetState.FAILED);
    assert.match(out.error?.message ?? "", new RegExp(`${join(outside, "key")}: it is a symbolic link`));
    assert.equal(existsSync(join(data, "datasets", "out@1")), false, "nothing of it was copied");
  });

  test("a restarted runner keeps each re-adopted process's uid, hands out only free ones, and refuses when none is left", async () => {
    const before: Record<string, number | undefined> = {};
    for (const [id, pid] of Object.entries(pids)) before[id] = (await credentials(pid)).uid[0];
    await runners.pop()?.close(); // the processes run on
    await startRunner();
    session = await stub.waitForRunner("su-1", session);
    const running = session.register.runningDeployments.map((d) => d.deploymentId).sort();
    assert.deepEqual(running, Object.keys(pids).sort());
    const held = new Set(Object.values(before));
    // Four uids in the range, three held by re-adopted processes (two without pyzmq): the next
    // spawns get the free ones, never a held one, then a clear refusal.
    const fresh: number[] = [];
    for (let i = held.size; i < 4; i++) {
      const c = await spawn(`dep-c${i}`, process.execPath, ["-e", "setInterval(() => {}, 1000)"]);
      assert.equal(c.ok, true, c.error?.message);
      fresh.push((await credentials(c.pid)).uid[0]!);
    }
    for (const uid of fresh) assert.ok(!held.has(uid), `uid ${uid} was not handed out twice`);
    const full = await spawn("dep-full", process.execPath, ["-e", "setInterval(() => {}, 1000)"]);
    assert.equal(full.ok, false);
    assert.match(
      full.error?.message ?? "",
      new RegExp(
        `no free deployment uid for dep-full: all 4 uids of the range ${uids.first}-${uids.last} are held`,
      ),
    );
    // Released on stop: the uid of dep-a goes to the next deployment.
    session.send({
      case: "stopRequest",
      value: { requestId: "stop-a", deploymentId: "dep-a", gracePeriodMs: 500 },
    });
    assert.equal((await session.next("stopResponse", (r) => r.deploymentId === "dep-a")).ok, true);
    const again = await spawn("dep-again", process.execPath, ["-e", "setInterval(() => {}, 1000)"]);
    assert.equal(again.ok, true, again.error?.message);
    assert.equal((await credentials(again.pid)).uid[0], before["dep-a"]);
  });
});
