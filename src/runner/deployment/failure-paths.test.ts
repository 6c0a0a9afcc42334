/**
 * The runner where a step fails half-way or it closes with work in progress, with fakes for the
 * kernel (the real-kernel paths are in runner.test.ts) and the real protocol to the stub.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { silentLogger } from "../../core/logger.ts";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import { ProcessState, SocketDirection, SocketPattern, SpawnRequestSchema } from "../../protocol/index.ts";
import { FakeCgroupDriver } from "../cgroups/testing/fake-cgroup-driver.ts";
import { FakeDatasetCache } from "../datasets/testing/fake-dataset-cache.ts";
import type { DatasetSource, LoadedDataset } from "../datasets/index.ts";
import { PortAllocator } from "../ports/index.ts";
import { FakePortProbe } from "../ports/testing/fake-port-probe.ts";
import { FakePostOffice } from "../post-office/testing/fake-post-office.ts";
import { FakeProcessLauncher } from "../process/testing/fake-process-launcher.ts";
import type { ManagedProcess, SpawnSpec } from "../process/index.ts";
import { Runner } from "../runner.ts";
import { compileRunnerOptions } from "../runner-options.ts";
import { FakeClock } from "../../core/testing/fake-clock.ts";
import { FakeOrchestrator } from "../testing/fake-orchestrator.ts";

const dirs = tempDirs();
const stubs: FakeOrchestrator[] = [];
after(async () => {
  for (const s of stubs) await s.close();
  dirs.removeAll();
});

const PORTS = { first: 41_000, last: 41_009 };

async function setUp(
  nodeId: string,
  pool: "live" | "backtest",
  datasets = new FakeDatasetCache(),
  leaseTtlMs = 60_000,
  clock?: FakeClock,
  launcher = new FakeProcessLauncher(),
) {
  const stub = await FakeOrchestrator.start({ heartbeatIntervalMs: 50, leaseTtlMs });
  stubs.push(stub);
  const state = dirs.make("hive-rf-");
  const run = dirs.make("hrf-");
  const postOffice = new FakePostOffice({ runDir: run });
  const ports = new PortAllocator({ ...PORTS, probe: new FakePortProbe() });
  const runner = new Runner(
    compileRunnerOptions({
      nodeId,
      pool,
      orchestrators: [stub.url],
      portRange: PORTS,
      stateDir: state,
      runDir: run,
      datasets: { dir: join(state, "datasets") },
      stopGraceMs: 100,
      selfFenceKillAfterMs: 100,
    }),
    {
      cgroups: new FakeCgroupDriver(),
      launcher,
      ports,
      datasets,
      postOffice,
      machine: { cores: 4, memoryBytes: 2 ** 32, cpus: [0, 1, 2, 3] },
      load: { sample: () => ({ cpu: 0, memoryUsedBytes: 0 }) },
      log: silentLogger(),
      ...(clock === undefined ? {} : { clock }),
    },
  );
  await runner.start();
  const session = await stub.waitForRunner(nodeId);
  return { runner, session, launcher, postOffice, ports, state, stub };
}

function spawnRequest(
  id: string,
  sockets: { name: string; pattern: SocketPattern; direction: SocketDirection }[],
  datasets: { name: string; id: string; version: string; sourcePath: string }[] = [],
) {
  return {
    case: "spawnRequest" as const,
    value: create(SpawnRequestSchema, {
      requestId: `req-${id}-${Math.random()}`,
      deploymentId: id,
      layout: "l",
      service: "s",
      epoch: 1n,
      command: "/bin/true",
      resources: { cores: 0.5, memoryBytes: 64n * 2n ** 20n },
      sockets,
      datasets,
    }),
  };
}

/** A dataset cache whose every acquire waits until the test calls finish() (a dataset loading). */
class HeldDatasets extends FakeDatasetCache {
  #finish: () => void = () => undefined;

  override async acquire(id: string): Promise<LoadedDataset> {
    await new Promise<void>((resolve) => (this.#finish = resolve));
    return { bytes: 1, path: `/fake/datasets/${id}` };
  }

  override release(): void {}

  /** Lets the acquire that waits now go on. */
  finish(): void {
    this.#finish();
  }
}

/** A launcher whose every spawn waits until the test calls finish() (a process being set up). */
class HeldLauncher extends FakeProcessLauncher {
  readonly #waiting: (() => void)[] = [];

  override async spawn(spec: SpawnSpec): Promise<ManagedProcess> {
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return super.spawn(spec);
  }

  /** Lets every spawn that waits now go on. */
  finish(): void {
    for (const go of this.#waiting.splice(0)) go();
  }
}

const FEED = { name: "feed", pattern: SocketPattern.PUB, direction: SocketDirection.OFFER };
const ORDERS = { name: "orders", pattern: SocketPattern.DEALER, direction: SocketDirection.CONSUME };

test("a process launched but not recorded is killed, reported ended, and what it held is free again", async () => {
  const { runner, session, launcher, ports, state } = await setUp("rf-1", "backtest");
  try {
    // The state directory cannot take the record: a file where its directory should be.
    writeFileSync(join(state, "deployments"), "not a directory");
    session.send(spawnRequest("dep-x", [FEED]));
    const failed = await session.next("spawnResponse", (r) => r.deploymentId === "dep-x");
    assert.equal(failed.ok, false);
    const first = launcher.find("dep-x");
    assert.ok(first, "the process was launched");
    const status = await Promise.race([
      first.exited,
      sleep(5_000).then(() => assert.fail("the launched process was left running")),
    ]);
    assert.deepEqual(first.signals, ["SIGKILL"], "and then killed, not left running unrecorded");
    assert.equal(status.signal, "SIGKILL", "killed: not an exit that reads as a clean finish");
    // Its end is in the heartbeats, for an orchestrator that adopted it from a Register meanwhile.
    await session.next("heartbeat", (h) =>
      h.processes.some((p) => p.deploymentId === "dep-x" && p.state === ProcessState.KILLED),
    );
    // Everything it held is free: its port, and its id (it spawns again once the record can be written).
    assert.deepEqual(ports.inUse(), []);
    rmSync(join(state, "deployments"));
    const retry = spawnRequest("dep-x", [FEED]);
    session.send(retry);
    const again = await session.next("spawnResponse", (r) => r.requestId === retry.value.requestId);
    assert.equal(again.ok, true, again.error?.message);
  } finally {
    await runner.close({ stopDeployments: true });
  }
});

test("close closes every order path first and does not wait for a dataset load", async () => {
  // A load that, like the real cache's, ends only when it completes or close() aborts it.
  let abort: (err: Error) => void = () => undefined;
  const datasets = new (class extends FakeDatasetCache {
    override load(_spec: DatasetSource): Promise<LoadedDataset> {
      return new Promise((_resolve, reject) => (abort = reject));
    }
    override close(): Promise<void> {
      abort(new Error("the dataset cache was closed"));
      return super.close();
    }
  })();
  const { runner, session, postOffice } = await setUp("rf-2", "live", datasets);
  const calls: string[] = [];
  const setOrderPath = postOffice.setOrderPath.bind(postOffice);
  postOffice.setOrderPath = (id, open, epoch) => {
    calls.push(`${id} ${open ? "open" : "closed"}`);
    setOrderPath(id, open, epoch);
  };
  session.send(spawnRequest("dep-live", [ORDERS]));
  assert.equal((await session.next("spawnResponse", (r) => r.deploymentId === "dep-live")).ok, true);
  session.send({ case: "setOrderPath", value: { deploymentId: "dep-live", open: true, epoch: 5n } });
  for (let i = 0; i < 100 && postOffice.deployments.get("dep-live")?.ordersOpen !== true; i++)
    await sleep(10);
  assert.equal(postOffice.deployments.get("dep-live")?.ordersOpen, true, "opened under a lease");
  session.send({
    case: "datasetLoad",
    value: { id: "big", version: "1", sourcePath: "/data/big", sizeBytes: 1n << 40n },
  });
  await session.next("datasetStatus");
  calls.length = 0;
  const closed = runner.close().then(() => "closed");
  // A bound on the wait, not a speed check: before the fix close waited for the load forever.
  const outcome = await Promise.race([closed, sleep(10_000).then(() => "still waiting for the load")]);
  abort(new Error("the test ends the load"));
  await closed;
  assert.equal(outcome, "closed");
  assert.equal(calls[0], "dep-live closed", "the order path is closed before anything is awaited");
});

test("a slow route update does not hold back the heartbeat acks: the lease holds", async () => {
  const { runner, session, postOffice } = await setUp("rf-3", "live", new FakeDatasetCache(), 300);
  let finish: () => void = () => undefined;
  try {
    session.send(spawnRequest("dep-live", [ORDERS]));
    assert.equal((await session.next("spawnResponse", (r) => r.deploymentId === "dep-live")).ok, true);
    session.send({ case: "setOrderPath", value: { deploymentId: "dep-live", open: true, epoch: 5n } });
    for (let i = 0; i < 100 && postOffice.deployments.get("dep-live")?.ordersOpen !== true; i++)
      await sleep(10);
    assert.equal(postOffice.deployments.get("dep-live")?.ordersOpen, true);
    // A route update the post office takes a second over (far longer than the 300 ms lease).
    const applyRoutes = postOffice.applyRoutes.bind(postOffice);
    postOffice.applyRoutes = (update) =>
      new Promise<void>((resolve) => (finish = resolve)).then(() => applyRoutes(update));
    session.send({ case: "routeUpdate", value: { version: 1n, routes: [], removals: [] } });
    const heartbeats = session.received.filter((m) => m.message.case === "heartbeat").length;
    await sleep(1_000);
    assert.ok(
      session.received.filter((m) => m.message.case === "heartbeat").length > heartbeats + 5,
      "heartbeats went on",
    );
    assert.equal(runner.leaseState, "held", "the acks were read while the route update waited");
    assert.equal(postOffice.deployments.get("dep-live")?.ordersOpen, true, "no self-fence");
    finish();
    await session.next("routeAck", (a) => a.version === 1n);
  } finally {
    finish();
    await runner.close();
  }
});

test("spawns are idempotent: asked again during a slow spawn or once it runs, it answers with the one process", async () => {
  const datasets = new HeldDatasets();
  const { runner, session, launcher, stub } = await setUp("rf-4", "backtest", datasets);
  try {
    const ticks = [{ name: "ticks", id: "ticks", version: "1", sourcePath: "/data/ticks" }];
    const first = spawnRequest("dep-slow", [], ticks);
    session.send(first);
    await sleep(50);
    // The stream breaks while the dataset loads: the new Register says the spawn is under way.
    session.end();
    const again = await stub.waitForRunner("rf-4", session);
    const reported = again.register.runningDeployments.find((d) => d.deploymentId === "dep-slow");
    assert.equal(reported?.status?.state, ProcessState.STARTING);
    // Asked again with a new request id while it loads: no second process, both answered.
    const second = spawnRequest("dep-slow", [], ticks);
    again.send(second);
    await sleep(50);
    datasets.finish();
    const answer = await again.next("spawnResponse", (r) => r.requestId === second.value.requestId);
    assert.equal(answer.ok, true, answer.error?.message);
    assert.equal(launcher.processes.filter((p) => p.deploymentId === "dep-slow").length, 1);
    // Asked once more after it runs (an orchestrator that restarted): the same process.
    const third = spawnRequest("dep-slow", [], ticks);
    again.send(third);
    const same = await again.next("spawnResponse", (r) => r.requestId === third.value.requestId);
    assert.equal(same.ok, true);
    assert.equal(same.pid, answer.pid);
    assert.equal(launcher.processes.filter((p) => p.deploymentId === "dep-slow").length, 1);
  } finally {
    datasets.finish();
    await runner.close({ stopDeployments: true });
  }
});

test("a live process whose spawn ends after self-fencing killed the others is killed too", async () => {
  const datasets = new HeldDatasets();
  // The lease runs on a manual clock; the stub's 60 s TTL keeps the link's own watchdog quiet.
  const clock = new FakeClock();
  const { runner, session, launcher, stub } = await setUp("rf-5", "live", datasets, 60_000, clock);
  try {
    for (let i = 0; i < 100 && runner.leaseState !== "held"; i++) await sleep(10);
    assert.equal(runner.leaseState, "held");
    const ticks = [{ name: "ticks", id: "ticks", version: "1", sourcePath: "/data/ticks" }];
    const request = spawnRequest("dep-live", [ORDERS], ticks);
    session.send(request);
    await sleep(50);
    // The orchestrator goes silent past the lease and the kill grace while the dataset loads.
    stub.ackHeartbeats = false;
    clock.advance(60_000 + 1_000);
    assert.equal(runner.leaseState, "killed");
    datasets.finish();
    const answer = await session.next("spawnResponse", (r) => r.requestId === request.value.requestId);
    assert.equal(answer.ok, false);
    assert.match(answer.error?.message ?? "", /self-fenced: the lease was lost while it was being spawned/);
    const status = await launcher.find("dep-live")?.exited;
    assert.equal(status?.signal, "SIGKILL");
  } finally {
    datasets.finish();
    await runner.close({ stopDeployments: true });
  }
});

test("an order path stays closed while its process is spawned, and a close sent meanwhile holds", async () => {
  const launcher = new HeldLauncher();
  const { runner, session, postOffice } = await setUp("rf-6", "live", undefined, 60_000, undefined, launcher);
  try {
    for (let i = 0; i < 100 && runner.leaseState !== "held"; i++) await sleep(10);
    const open = spawnRequest("dep-open", [ORDERS]);
    const closed = spawnRequest("dep-closed", [ORDERS]);
    for (const r of [open, closed]) {
      r.value.ordersEnabled = true;
      session.send(r);
    }
    await sleep(50);
    // Both are in the post office, their processes not yet in the runner's hands.
    assert.equal(postOffice.deployments.get("dep-open")?.ordersOpen, false, "closed during the spawn");
    assert.equal(postOffice.deployments.get("dep-closed")?.ordersOpen, false);
    session.send({ case: "setOrderPath", value: { deploymentId: "dep-closed", open: false, epoch: 2n } });
    await sleep(20);
    launcher.finish();
    for (const r of [open, closed]) {
      const answer = await session.next("spawnResponse", (a) => a.requestId === r.value.requestId);
      assert.equal(answer.ok, true, answer.error?.message);
    }
    assert.equal(postOffice.deployments.get("dep-open")?.ordersOpen, true, "opened once spawned, as asked");
    assert.equal(
      postOffice.deployments.get("dep-closed")?.ordersOpen,
      false,
      "the close sent meanwhile holds",
    );
  } finally {
    launcher.finish();
    await runner.close({ stopDeployments: true });
  }
});

test("an open whose record is written slowly does not reopen a path that self-fencing closed meanwhile", async () => {
  const clock = new FakeClock();
  const { runner, session, postOffice, stub } = await setUp("rf-7", "live", undefined, 60_000, clock);
  try {
    for (let i = 0; i < 100 && runner.leaseState !== "held"; i++) await sleep(10);
    const request = spawnRequest("dep-live", [ORDERS]);
    session.send(request);
    const answer = await session.next("spawnResponse", (a) => a.requestId === request.value.requestId);
    assert.equal(answer.ok, true, answer.error?.message);
    // The state disk is slow: the record write of the next command waits for the test.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const internals = (
      runner as unknown as { deployments: { orderPaths: { persist(d: unknown): Promise<void> } } }
    ).deployments.orderPaths;
    const persist = internals.persist.bind(internals);
    internals.persist = async (d: unknown) => {
      await gate;
      return persist(d);
    };
    session.send({ case: "setOrderPath", value: { deploymentId: "dep-live", open: true, epoch: 2n } });
    await sleep(50);
    stub.ackHeartbeats = false;
    clock.advance(60_050); // the lease runs out: self-fencing closes every order path
    assert.equal(runner.leaseState, "lost");
    assert.equal(postOffice.deployments.get("dep-live")?.ordersOpen, false, "closed by self-fencing");
    release();
    await sleep(50);
    assert.equal(
      postOffice.deployments.get("dep-live")?.ordersOpen,
      false,
      "a runner without a lease keeps its order paths closed",
    );
  } finally {
    await runner.close({ stopDeployments: true });
  }
});

test("the runner registers only once its post office is ready, and starts without market data if it cannot be", async () => {
  /** A post office whose relay thread starts when the test says so, or never. */
  class SlowPostOffice extends FakePostOffice {
    #settle: { resolve(): void; reject(err: Error): void } | undefined;
    readonly #started = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }));
    ready(): Promise<void> {
      return this.#started;
    }
    start(): void {
      this.#settle?.resolve();
    }
    fail(): void {
      this.#settle?.reject(new Error("the relay thread could not start"));
    }
  }
  const stub = await FakeOrchestrator.start({ heartbeatIntervalMs: 50 });
  stubs.push(stub);
  const make = (nodeId: string, postOffice: SlowPostOffice) => {
    const run = dirs.make("hrf-");
    return new Runner(
      compileRunnerOptions({
        nodeId,
        pool: "live",
        orchestrators: [stub.url],
        portRange: PORTS,
        stateDir: dirs.make("hive-rf-"),
        runDir: run,
        datasets: { dir: join(run, "datasets") },
      }),
      {
        cgroups: new FakeCgroupDriver(),
        launcher: new FakeProcessLauncher(),
        ports: new PortAllocator({ ...PORTS, probe: new FakePortProbe() }),
        datasets: new FakeDatasetCache(),
        postOffice,
        machine: { cores: 4, memoryBytes: 2 ** 32, cpus: [0, 1, 2, 3] },
        load: { sample: () => ({ cpu: 0, memoryUsedBytes: 0 }) },
        log: silentLogger(),
      },
    );
  };
  const slow = new SlowPostOffice({ runDir: dirs.make("hrf-") });
  const runner = make("rf-ready", slow);
  let started = false;
  const starting = runner.start().then(() => (started = true));
  await sleep(200);
  assert.equal(started, false, "start waits for the post office");
  assert.equal(stub.sessions.has("rf-ready"), false, "nothing registered meanwhile");
  slow.start();
  await starting;
  await stub.waitForRunner("rf-ready");
  await runner.close();

  // A relay thread that cannot start fails the market-data sockets, not the runner.
  const broken = new SlowPostOffice({ runDir: dirs.make("hrf-") });
  const degraded = make("rf-broken", broken);
  broken.fail();
  await degraded.start();
  await stub.waitForRunner("rf-broken");
  await degraded.close();
});
