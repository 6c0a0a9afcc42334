/**
 * The orchestrator with a LocalRuntime on the real kernel: a real runner inside the process
 * (cgroups, processes, ports, post office), reached over the in-memory runner protocol. Needs
 * root and writable cgroups; under CI=true their absence fails the file (runner/cgroups/testing/real-cgroups.ts).
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../core/logger.ts";
import { tempDirs } from "../core/testing/temp-dirs.ts";
import {
  cleanUpTestCgroups,
  realCgroupsForTest,
  type RealCgroups,
} from "../runner/cgroups/testing/real-cgroups.ts";
import { compileRunnerOptions } from "../runner/runner-options.ts";
import { LOCAL_RUNNER_URL } from "./local-runtime.ts";
import { compileOrchestratorOptions } from "./orchestrator-options.ts";
import { startOrchestrator, type RunningOrchestrator } from "./orchestrator-server.ts";
import { until as poll } from "../core/testing/until.ts";
import { pidAlive } from "../runner/process/process-identity.ts";

/** Waits up to 15 s: a real runner starts processes in cgroups here. */
const until = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => poll(what, probe, 15_000);

/** The local-demo layout's deployment once it runs with a pid. */
const feederRunning = (o: RunningOrchestrator, what: string) =>
  until(what, async () =>
    (await o.core.listDeployments({ layout: "local-demo" })).find(
      (x) => x.phase === "running" && x.pid !== null,
    ),
  );

let cg: RealCgroups;
let orch: RunningOrchestrator | undefined;
const dirs = tempDirs();
const firstPort = 31_000 + (process.pid % 90) * 100;

const tempDir = (prefix: string, base?: string): string => dirs.make(prefix, base);
/** A temporary directory the deployments' uids (as root) can pass through: mkdtemp makes 0700. */
const passableDir = (prefix: string, base?: string): string => {
  const d = tempDir(prefix, base);
  chmodSync(d, 0o711);
  return d;
};

before(async () => {
  cg = await realCgroupsForTest();
});

after(async () => {
  await orch?.close();
  // cg is unset when realCgroupsForTest threw (CI=true without root): that failure is the report.
  if (typeof cg !== "undefined") await cleanUpTestCgroups(cg);
  dirs.removeAll();
});

// A program that listens on the port it was given, and exits on SIGTERM.
const program =
  `const s = require("net").createServer().listen(Number(process.env.HIVE_PORT_FEED), "127.0.0.1");` +
  `process.on("SIGTERM", () => s.close(() => process.exit(0)));`;

const layout = `name: local-demo
services:
  - name: feeder
    kind: feeder
    pool: backtest
    command: ${JSON.stringify(process.execPath)}
    args: ["-e", ${JSON.stringify(program)}]
    resources: { cores: 0.5, memory: 128MiB }
    sockets:
      offers:
        - { name: feed, pattern: pub }
`;

/** The first local runner's directories: a second orchestrator may be started on them. */
let runnerDirs: { stateDir: string; runDir: string } | undefined;

async function startLocal(
  shareDirs = false,
  httpApi?: Parameters<typeof startOrchestrator>[1]["httpApi"],
): Promise<RunningOrchestrator> {
  const own = { stateDir: tempDir("hive-ls-"), runDir: passableDir("hl-") };
  const dirsOf = shareDirs && runnerDirs !== undefined ? runnerDirs : own;
  runnerDirs ??= dirsOf;
  const runner = compileRunnerOptions({
    nodeId: "local",
    pool: "backtest",
    orchestrators: ["http://ignored.invalid"],
    portRange: { first: firstPort, last: firstPort + 9 },
    stateDir: dirsOf.stateDir,
    runDir: dirsOf.runDir,
    datasets: { dir: join(passableDir("hive-ld-", "/dev/shm"), "datasets"), budget: "16MiB" },
    stopGraceMs: 2_000,
    cgroupParent: cg.parent,
  });
  return startOrchestrator(
    compileOrchestratorOptions({
      store: "memory:",
      runnerListen: { host: "127.0.0.1", port: 0 },
      heartbeatIntervalMs: 50,
      runnerLeaseMs: 1_000,
    }),
    {
      log: silentLogger(),
      local: { runner, overrides: { cgroups: cg.driver, log: silentLogger() } },
      ...(httpApi === undefined ? {} : { httpApi }),
    },
  );
}

describe("LocalRuntime: an orchestrator that runs services on its own machine", () => {
  let pid = 0;

  test("registers the in-process runner as one ready node, kept alive by heartbeats", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    orch = await startLocal();
    assert.equal(orch.runnerUrl, LOCAL_RUNNER_URL);
    const node = await until("the local node ready", async () =>
      (await orch!.core.listNodes()).find((n) => n.id === "local" && n.health === "ready"),
    );
    assert.equal(node.connected, true);
    assert.match(node.resourceLimits, /^cgroup v[12]: .*memory/);
    // Heartbeats through the same runner service as a remote runner's: the lease stays held
    // well past its TTL (1 s) only if they are acknowledged.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(orch.local?.localRunner?.leaseState, "held");
    const again = (await orch.core.listNodes()).find((n) => n.id === "local");
    assert.equal(again?.health, "ready");
    assert.ok(again.lastHeartbeatAgoMs !== null && again.lastHeartbeatAgoMs < 500);
  });

  test("applies a layout: the service runs as a real process in its cgroup, at a real address", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    assert.ok(orch);
    await orch.core.applyLayout(layout, "local-demo.yaml");
    const d = await feederRunning(orch, "feeder running");
    assert.equal(d.nodeId, "local");
    pid = d.pid ?? 0;
    assert.ok(pidAlive(pid), `pid ${pid} is alive`);
    assert.match(readFileSync(`/proc/${pid}/cgroup`, "utf8"), new RegExp(`/${cg.parent}/`));
    const address = d.addresses["feed"] ?? "";
    assert.match(address, /^tcp:\/\/127\.0\.0\.1:(\d+)$/);
    const port = Number(/:(\d+)$/.exec(address)?.[1]);
    assert.ok(port >= firstPort && port <= firstPort + 9, `port ${port} in the runner's range`);
  });

  test("a second orchestrator on the same runner state whose HTTP port is taken fails and stops nothing", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    assert.ok(orch);
    const taken = Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:7070"), {
      code: "EADDRINUSE",
    });
    await assert.rejects(
      startLocal(true, () => ({ listen: () => Promise.reject(taken), close: () => Promise.resolve() })),
      /--http-listen .* is in use/,
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(pidAlive(pid), "the first orchestrator's process still runs");
    assert.equal((await feederRunning(orch, "still running")).pid, pid);
  });

  test("stopping the layout stops the process", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    assert.ok(orch);
    await orch.core.stopLayout("local-demo");
    await until("local-demo gone", async () =>
      (await orch!.core.listLayouts()).some((l) => l.name === "local-demo") ? undefined : true,
    );
    await until(`pid ${pid} gone`, () => Promise.resolve(pidAlive(pid) ? undefined : true));
    assert.deepEqual(await cg.driver?.list(), []);
  });

  test("closing the orchestrator stops what runs locally and leaves no cgroup behind", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    assert.ok(orch);
    await orch.core.applyLayout(layout, "local-demo.yaml");
    const d = await feederRunning(orch, "feeder running again");
    const running = orch;
    orch = undefined;
    await running.close();
    assert.equal(pidAlive(d.pid ?? 0), false, "the process was stopped by close");
    assert.equal(running.local?.localRunner?.linkState, "closed");
    assert.deepEqual(await cg.driver?.list(), []);
    assert.equal(existsSync(join("/sys/fs/cgroup", cg.parent, "local-demo")), false);
  });
});
