/**
 * The runner end to end on the real kernel: a real runner (cgroups, processes, ports, datasets
 * in tmpfs, the ZeroMQ post office) talking the real protocol to the orchestrator stub.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../core/logger.ts";
import { tempDirs } from "../core/testing/temp-dirs.ts";
import {
  DatasetState,
  LogStream,
  Pool,
  ProcessState,
  SocketDirection,
  SocketPattern,
} from "../protocol/index.ts";
import { cleanUpTestCgroups, realCgroupsForTest, type RealCgroups } from "./cgroups/testing/real-cgroups.ts";
import { createRunner } from "./create-runner.ts";
import type { Runner } from "./runner.ts";
import { compileRunnerOptions } from "./runner-options.ts";
import { FakeOrchestrator, type FakeOrchestratorSession } from "./testing/fake-orchestrator.ts";
import { create } from "@bufbuild/protobuf";
import { SpawnRequestSchema } from "../protocol/index.ts";

let cg: RealCgroups;
let stub: FakeOrchestrator;
const dirs = tempDirs();
const runners: Runner[] = [];
const firstPort = 30_000 + (process.pid % 90) * 100;

const tempDir = (prefix: string, base?: string): string => dirs.make(prefix, base);

let state = "";
let run = "";
let data = "";
/** Where the processes write what they report: they run under uids of their own (as root), like /tmp. */
let drop = "";

before(async () => {
  cg = await realCgroupsForTest();
  stub = await FakeOrchestrator.start({ heartbeatIntervalMs: 50, leaseTtlMs: 3_000 });
  state = tempDir("hive-rs-");
  // mkdtemp makes 0700 directories: the deployments' uids must pass through these two.
  run = tempDir("hr-");
  chmodSync(run, 0o711);
  data = tempDir("hive-rd-", "/dev/shm");
  chmodSync(data, 0o711);
  drop = tempDir("hive-rx-");
  chmodSync(drop, 0o1777);
});

after(async () => {
  for (const r of runners) await r.close({ stopDeployments: true });
  await stub.close();
  await cleanUpTestCgroups(cg);
  dirs.removeAll();
});

async function startRunner(
  nodeId = "rt-1",
  portRange = { first: firstPort, last: firstPort + 9 },
  runDir = run,
): Promise<Runner> {
  const options = compileRunnerOptions({
    nodeId,
    pool: "backtest",
    tags: ["data_node"],
    orchestrators: [stub.url],
    portRange,
    stateDir: state,
    runDir,
    datasets: { dir: join(data, "datasets"), budget: "64MiB" },
    stopGraceMs: 2_000,
    metricsListen: "127.0.0.1:0",
  });
  const runner = await createRunner(options, { cgroups: cg.driver, log: silentLogger() });
  runners.push(runner);
  await runner.start();
  return runner;
}

const script = (body: string) => ["-e", body];
// A process that writes its environment to a file, then waits for SIGTERM.
// Written under another name and renamed: a test that waits for the file never reads it half written.
const envDumper = (file: string) =>
  script(
    `require("fs").writeFileSync(${JSON.stringify(`${file}.tmp`)}, JSON.stringify(process.env));` +
      `require("fs").renameSync(${JSON.stringify(`${file}.tmp`)}, ${JSON.stringify(file)});` +
      `console.log("hello from", process.env.HIVE_DEPLOYMENT_ID);` +
      `process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000);`,
  );

interface SpawnOverrides {
  readonly command?: string;
  readonly args?: string[];
  readonly datasets?: { name: string; id: string; version: string }[];
}

function spawnRequest(id: string, over: SpawnOverrides = {}) {
  return {
    case: "spawnRequest" as const,
    value: create(SpawnRequestSchema, {
      requestId: `req-${id}-${Math.random()}`,
      deploymentId: id,
      layout: "test-layout",
      service: "svc",
      epoch: 1n,
      command: process.execPath,
      resources: { cores: 0.5, memoryBytes: 256n * 2n ** 20n },
      sockets: [
        { name: "feed", pattern: SocketPattern.PUB, direction: SocketDirection.OFFER },
        { name: "market_data", pattern: SocketPattern.SUB, direction: SocketDirection.CONSUME },
      ],
      ...over,
    }),
  };
}

/** Waits until no process has `pid` (it was killed or ended). */
function waitUntilGone(pid: number, what: string): Promise<void> {
  return waitFor(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, what);
}

async function waitFor(check: () => boolean, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("runner on the real kernel", () => {
  let session: FakeOrchestratorSession;

  test("registers with the machine's real capacity", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    await startRunner();
    session = await stub.waitForRunner("rt-1");
    const r = session.register;
    assert.equal(r.pool, Pool.BACKTEST);
    assert.deepEqual(r.tags, ["data_node"]);
    assert.ok(r.capacity && r.capacity.cores > 0 && r.capacity.cores <= availableParallelism());
    assert.ok(r.capacity && r.capacity.memoryBytes > 0n);
    assert.deepEqual([r.portRange?.first, r.portRange?.last], [firstPort, firstPort + 9]);
    assert.equal(r.unlimited, false);
    assert.match(r.resourceLimits, /^cgroup v[12]: .*memory/);
  });

  test("spawns a process in its cgroup with the strategy environment, and answers real addresses", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    const envFile = join(drop, "env-a.json");
    session.send(spawnRequest("dep-a", { args: envDumper(envFile) }));
    const answer = await session.next("spawnResponse", (r) => r.deploymentId === "dep-a");
    assert.equal(answer.ok, true, answer.error?.message);
    assert.equal(answer.addresses[0]?.socketName, "feed");
    assert.match(answer.addresses[0]?.address ?? "", new RegExp(`^tcp://127\\.0\\.0\\.1:${firstPort}$`));
    await waitFor(() => existsSync(envFile), "the env file");
    const env = JSON.parse(readFileSync(envFile, "utf8")) as Record<string, string>;
    assert.equal(env.HIVE_DEPLOYMENT_ID, "dep-a");
    assert.equal(env.HIVE_NODE_ID, "rt-1");
    assert.equal(env.HIVE_PORT_FEED, String(firstPort));
    assert.equal(env.HIVE_SOCKET_MARKET_DATA, `ipc://${join(run, "strategies", "dep-a", "market_data")}`);
    const cgroups = readFileSync(`/proc/${answer.pid}/cgroup`, "utf8");
    assert.match(cgroups, new RegExp(`memory:/${cg.parent}/dep-a`));
    const hb = await session.next("heartbeat", (h) =>
      h.processes.some((p) => p.deploymentId === "dep-a" && p.state === ProcessState.RUNNING),
    );
    assert.equal(hb.processes.find((p) => p.deploymentId === "dep-a")?.pid, answer.pid);
  });

  test("serves Prometheus metrics: processes by state, routes, heartbeats", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    const url = runners.at(-1)?.metricsUrl;
    assert.ok(url);
    const text = await (await fetch(url)).text();
    assert.match(text, /hive_runner_processes\{state="running",component="runner",node="rt-1"\} 1/);
    assert.match(
      text,
      /hive_route_connected_remotes\{deployment="dep-a",socket="market_data",kind="market-data"/,
    );
    assert.match(text, /hive_runner_unlimited\{component="runner",node="rt-1"\} 0/);
    assert.match(text, /hive_runner_heartbeats_sent\{component="runner",node="rt-1"\} [1-9]/);
    // The process's own figures, as prom-client's defaults name them.
    assert.match(text, /process_cpu_seconds_total\{component="runner",node="rt-1"\} \d/);
    assert.match(text, /nodejs_eventloop_lag_p99_seconds\{component="runner",node="rt-1"\} \d/);
  });

  test("serves a deployment's output through the protocol", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    const read = async (requestId: string) => {
      session.send({
        case: "logRequest",
        value: { requestId, deploymentId: "dep-a", stream: LogStream.STDOUT },
      });
      await session.next("logChunk", (c) => c.requestId === requestId && c.eof);
      return session.received
        .filter((m) => m.message.case === "logChunk" && m.message.value.requestId === requestId)
        .map((m) => (m.message.case === "logChunk" ? Buffer.from(m.message.value.data).toString() : ""))
        .join("");
    };
    // The process prints its line as it starts: on a loaded machine it may not have yet.
    let text = await read("log-1");
    for (let i = 0; i < 50 && !/hello from dep-a/.test(text); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await read(`log-1-${i}`);
    }
    assert.match(text, /hello from dep-a/);
    // tailBytes 0 is nothing of what is kept (with follow: only new output), not everything.
    session.send({
      case: "logRequest",
      value: { requestId: "log-2", deploymentId: "dep-a", stream: LogStream.STDOUT, tailBytes: 0n },
    });
    await session.next("logChunk", (c) => c.requestId === "log-2" && c.eof);
    const none = session.received
      .filter((m) => m.message.case === "logChunk" && m.message.value.requestId === "log-2")
      .reduce((n, m) => n + (m.message.case === "logChunk" ? m.message.value.data.length : 0), 0);
    assert.equal(none, 0);
  });

  test("a spawn that fails leaks nothing: the next spawn gets the same ports", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    session.send(spawnRequest("dep-bad", { command: "/nonexistent/strategy" }));
    const bad = await session.next("spawnResponse", (r) => r.deploymentId === "dep-bad");
    assert.equal(bad.ok, false);
    assert.match(
      bad.error?.message ?? "",
      /spawn dep-bad: command: command "\/nonexistent\/strategy": no executable file there/,
    );
    session.send(
      spawnRequest("dep-py", { command: "/usr/bin/python3", args: ["-c", "import time; time.sleep(60)"] }),
    );
    const py = await session.next("spawnResponse", (r) => r.deploymentId === "dep-py");
    assert.equal(py.ok, true, py.error?.message);
    // dep-a holds the first port; the failed spawn's port came back and goes to the Python one.
    assert.equal(py.addresses[0]?.address, `tcp://127.0.0.1:${firstPort + 1}`);
  });

  test("stop ends the process, frees its port and removes its cgroup", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    session.send({
      case: "stopRequest",
      value: { requestId: "stop-py", deploymentId: "dep-py", gracePeriodMs: 1_000 },
    });
    const stopped = await session.next("stopResponse", (r) => r.deploymentId === "dep-py");
    assert.equal(stopped.ok, true, stopped.error?.message);
    // The process layer's own words travel to the orchestrator.
    assert.match(stopped.finalStatus?.exitReason ?? "", /SIGTERM|stopped|killed/);
    assert.ok(!(await cg.driver!.list()).includes("dep-py"));
  });

  test("a route update naming a deployment whose process just ended is still acknowledged", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    session.send(spawnRequest("dep-gone", { args: ["-e", "process.exit(3)"] }));
    const spawned = await session.next("spawnResponse", (r) => r.deploymentId === "dep-gone");
    assert.equal(spawned.ok, true, spawned.error?.message);
    // Reported failed once its resources (its post-office sockets among them) are released.
    await session.next("heartbeat", (hb) =>
      hb.processes.some((p) => p.deploymentId === "dep-gone" && p.state === ProcessState.FAILED),
    );
    await new Promise((r) => setTimeout(r, 200));
    session.send({
      case: "routeUpdate",
      value: {
        version: 77n,
        routes: [
          {
            deploymentId: "dep-gone",
            socketName: "market_data",
            localEndpoint: "",
            remoteAddresses: ["tcp://127.0.0.1:9"],
          },
        ],
        removals: [{ deploymentId: "dep-gone", socketName: "feed" }],
      },
    });
    const ack = await session.next("routeAck", (a) => a.version === 77n);
    assert.equal(ack.version, 77n);
  });

  test("loads a dataset into RAM with progress, reports it hot, hands its path to a process", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    const source = join(state, "ticks.csv");
    writeFileSync(source, "ts,price\n".repeat(100_000));
    session.send({
      case: "datasetLoad",
      value: { id: "ticks", version: "1", sourcePath: source, sizeBytes: 900_000n },
    });
    const hot = await session.next("datasetStatus", (s) => s.id === "ticks" && s.state === DatasetState.HOT);
    assert.equal(hot.loadedBytes, 900_000n);
    await session.next("heartbeat", (h) =>
      h.hotDatasets.some((d) => d.id === "ticks" && d.sizeBytes === 900_000n),
    );
    const envFile = join(drop, "env-b.json");
    session.send(
      spawnRequest("dep-b", {
        args: envDumper(envFile),
        datasets: [{ name: "ticks", id: "ticks", version: "1" }],
      }),
    );
    const b = await session.next("spawnResponse", (r) => r.deploymentId === "dep-b");
    assert.equal(b.ok, true, b.error?.message);
    await waitFor(() => existsSync(envFile), "the env file");
    const env = JSON.parse(readFileSync(envFile, "utf8")) as Record<string, string>;
    assert.ok(env.HIVE_DATASET_TICKS?.startsWith(join(data, "datasets")));
    assert.equal(readFileSync(env.HIVE_DATASET_TICKS ?? "", "utf8").length, 900_000);
  });

  test("a restarted runner re-adopts its processes and reports them, restarting nothing", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    const pid = (await session.next("spawnResponse", (r) => r.deploymentId === "dep-a")).pid;
    const old = runners.pop();
    await old?.close(); // the processes keep running
    assert.doesNotThrow(() => process.kill(pid, 0));
    // The run directory spelled another way (a trailing slash): the same directory.
    await startRunner(undefined, undefined, `${run}/`);
    const again = await stub.waitForRunner("rt-1", session);
    const running = again.register.runningDeployments.map((d) => [d.deploymentId, d.status?.pid]);
    assert.deepEqual(running.sort(), [
      ["dep-a", pid],
      ["dep-b", (await session.next("spawnResponse", (r) => r.deploymentId === "dep-b")).pid],
    ]);
    session = again;
    // dep-b still reads "ticks": re-adopted, it pins it again, so it cannot be evicted under it.
    session.send({ case: "datasetEvict", value: { id: "ticks", version: "1" } });
    const evict = await session.next(
      "datasetStatus",
      (s) => s.id === "ticks" && (s.state === DatasetState.FAILED || s.state === DatasetState.EVICTED),
    );
    assert.equal(evict.state, DatasetState.FAILED, "a dataset in use by an adopted process stays");
    assert.match(evict.error?.message ?? "", /in use by 1 process/);
    session.send({
      case: "stopRequest",
      value: { requestId: "stop-a", deploymentId: "dep-a", gracePeriodMs: 1_000 },
    });
    assert.equal((await session.next("stopResponse", (r) => r.deploymentId === "dep-a")).ok, true);
    await waitUntilGone(pid, "the adopted process to end");
  });

  test("a process the runner has no record of is killed at restart, not left unknown", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    const envFile = join(drop, "env-c.json");
    session.send(spawnRequest("dep-c", { args: envDumper(envFile) }));
    const c = await session.next("spawnResponse", (r) => r.deploymentId === "dep-c");
    assert.equal(c.ok, true, c.error?.message);
    const old = runners.pop();
    await old?.close();
    // As if the runner had died between launching the process and writing its own record.
    rmSync(join(state, "deployments", "dep-c.json"), { force: true });
    await startRunner();
    const again = await stub.waitForRunner("rt-1", session);
    assert.ok(!again.register.runningDeployments.some((d) => d.deploymentId === "dep-c"));
    await waitUntilGone(c.pid, "the unrecorded process to be killed");
    session = again;
  });

  test("a process that cannot be re-adopted (its port left the range) is killed; the runner starts", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    session.send(spawnRequest("dep-d", { args: script("setInterval(() => {}, 1000)") }));
    const d = await session.next("spawnResponse", (r) => r.deploymentId === "dep-d");
    assert.equal(d.ok, true, d.error?.message);
    const old = runners.pop();
    await old?.close();
    // The operator narrowed the port range to one that no longer holds dep-d's port.
    await startRunner("rt-1", { first: firstPort + 10, last: firstPort + 19 });
    const again = await stub.waitForRunner("rt-1", session);
    assert.ok(!again.register.runningDeployments.some((x) => x.deploymentId === "dep-d"));
    await waitUntilGone(d.pid, "the process that could not be re-adopted to be killed");
    assert.ok(!existsSync(join(state, "deployments", "dep-d.json")), "its record is gone");
    session = again;
  });

  test("a process whose local sockets are under another run directory is not re-adopted blind", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    session.send(spawnRequest("dep-e", { args: script("setInterval(() => {}, 1000)") }));
    const e = await session.next("spawnResponse", (r) => r.deploymentId === "dep-e");
    assert.equal(e.ok, true, e.error?.message);
    const old = runners.pop();
    await old?.close();
    // The operator moved the run directory: dep-e's HIVE_SOCKET_* still name the old paths.
    const moved = mkdtempSync(join(tmpdir(), "hrt-moved-"));
    chmodSync(moved, 0o711);
    try {
      // The range the runner has run with since the previous test: only the run directory moves.
      const range = { first: firstPort + 10, last: firstPort + 19 };
      await startRunner("rt-1", range, moved);
      const again = await stub.waitForRunner("rt-1", session);
      assert.ok(!again.register.runningDeployments.some((x) => x.deploymentId === "dep-e"));
      await waitUntilGone(e.pid, "the process whose sockets moved away to be killed");
      session = again;
      const back = runners.pop();
      await back?.close();
      await startRunner("rt-1", range);
      session = await stub.waitForRunner("rt-1", session);
    } finally {
      rmSync(moved, { recursive: true, force: true });
    }
  });
});
