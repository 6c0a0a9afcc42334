/**
 * Self-fencing end to end on the real kernel: a real runner (cgroups, processes, the ZeroMQ
 * post office) talking to the orchestrator stub, whose lease clock is a FakeClock the test
 * moves. The stub stops answering heartbeats to let the lease run out; the wall clock is moved
 * back meanwhile to show that it plays no part.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { silentLogger } from "../../core/logger.ts";
import { localEndpoint } from "../../layout/index.ts";
import {
  ProcessState,
  SocketDirection,
  SocketPattern,
  SpawnRequestSchema,
  type SocketSpecSchema,
} from "../../protocol/index.ts";
import { cleanUpTestCgroups, realCgroupsForTest, type RealCgroups } from "../cgroups/testing/real-cgroups.ts";
import { createRunner } from "../create-runner.ts";
import { accountRejectReason, OrderRejectReason } from "../post-office/index.ts";
import { testOrder, TestStrategy } from "../post-office/testing/post-office-kit.ts";
import type { Runner } from "../runner.ts";
import { compileRunnerOptions } from "../runner-options.ts";
import { FakeClock } from "../../core/testing/fake-clock.ts";
import { FakeOrchestrator, type FakeOrchestratorSession } from "../testing/fake-orchestrator.ts";
import { pidAlive } from "../process/process-identity.ts";

type Socket = MessageInitShape<typeof SocketSpecSchema>;

const LEASE_MS = 60_000;
let cg: RealCgroups;
let stub: FakeOrchestrator;
const dirs: string[] = [];
const runners: Runner[] = [];
const strategies: TestStrategy[] = [];
let state = "";
let run = "";
let data = "";
const firstPort = 33_000 + (process.pid % 90) * 10;

/** Bounded polling on the monotonic clock (Date.now is stubbed in one test). */
async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

before(async () => {
  cg = await realCgroupsForTest();
  stub = await FakeOrchestrator.start({ heartbeatIntervalMs: 50, leaseTtlMs: LEASE_MS });
  state = mkdtempSync(join(tmpdir(), "hive-sf-"));
  run = mkdtempSync(join(tmpdir(), "hsf-"));
  data = mkdtempSync(join(tmpdir(), "hive-sfd-"));
  // mkdtemp makes 0700 directories: the deployments' uids (as root) must pass through these two.
  chmodSync(run, 0o711);
  chmodSync(data, 0o711);
  dirs.push(state, run, data);
});

after(async () => {
  for (const s of strategies) await s.close();
  for (const r of runners) await r.close({ stopDeployments: true });
  await stub.close();
  await cleanUpTestCgroups(cg);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startRunner(clock: FakeClock): Promise<Runner> {
  const options = compileRunnerOptions({
    nodeId: "sf-1",
    pool: "live",
    orchestrators: [stub.url],
    portRange: { first: firstPort, last: firstPort + 9 },
    stateDir: state,
    runDir: run,
    datasets: { dir: join(data, "datasets") }, // not the default under /dev/shm: nothing left behind
    stopGraceMs: 1_000,
    curveKeyFile: join(state, "curve", "runner.key"),
    selfFenceKillAfterMs: LEASE_MS, // short, for the test; the default is 10 s
  });
  const runner = await createRunner(options, { cgroups: cg.driver, log: silentLogger(), clock });
  runners.push(runner);
  await runner.start();
  return runner;
}

const consumed = (name: string, pattern: SocketPattern): Socket => ({
  name,
  pattern,
  direction: SocketDirection.CONSUME,
});

function spawnRequest(id: string, sockets: Socket[], ordersEnabled: boolean) {
  return {
    case: "spawnRequest" as const,
    value: create(SpawnRequestSchema, {
      requestId: `req-${id}`,
      deploymentId: id,
      layout: "sf",
      service: id,
      epoch: 5n,
      ordersEnabled,
      accounts: ["ACC-1"],
      command: process.execPath,
      args: ["-e", "setInterval(() => {}, 1000)"],
      resources: { cores: 0.2, memoryBytes: 128n * 2n ** 20n },
      sockets,
    }),
  };
}

/** The runner's order-path gauge for a deployment: 1 open, 0 closed, undefined none. */
async function pathOpen(runner: Runner, id: string): Promise<number | undefined> {
  const text = await runner.metrics().metrics();
  const line = text.split("\n").find((l) => l.startsWith(`hive_order_path_open{deployment="${id}"`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

async function metric(runner: Runner, name: string): Promise<number> {
  const text = await runner.metrics().metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`));
  return Number(line?.split(" ").at(-1));
}

/** One order from a probe strategy on a deployment's local orders socket: the reject reason. */
async function probe(strategy: TestStrategy, id: string, account = "ACC-1"): Promise<unknown> {
  const before = strategy.replies.length;
  await strategy.order(testOrder(`${id}-${before}`, { account }));
  await waitFor(() => strategy.replies.length > before, `a reply to the probe of ${id}`);
  return strategy.replies.at(-1)?.["reason"];
}

describe("self-fencing on the real kernel", () => {
  let clock = new FakeClock(0);
  let runner: Runner;
  let session: FakeOrchestratorSession;
  const pids = new Map<string, number>();
  let probeA: TestStrategy;

  test("registers with its CURVE public key from the key file", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    runner = await startRunner(clock);
    session = await stub.waitForRunner("sf-1");
    const pub = readFileSync(join(state, "curve", "runner.key.pub"), "utf8").trim();
    assert.equal(session.register.curvePublicKey, pub);
    await waitFor(() => runner.leaseState === "held", "the first lease");
    session.send(spawnRequest("live-a", [consumed("orders", SocketPattern.DEALER)], true));
    session.send(spawnRequest("live-b", [consumed("orders", SocketPattern.DEALER)], false));
    session.send(spawnRequest("bt-1", [consumed("market_data", SocketPattern.SUB)], false));
    for (const id of ["live-a", "live-b", "bt-1"]) {
      const answer = await session.next("spawnResponse", (r) => r.deploymentId === id);
      assert.equal(answer.ok, true, answer.error?.message);
      pids.set(id, answer.pid);
    }
    probeA = new TestStrategy(localEndpoint(run, "live-a", "orders"));
    strategies.push(probeA);
    assert.equal(await pathOpen(runner, "live-a"), 1);
    assert.equal(await pathOpen(runner, "live-b"), 0);
    // Open, and no gateway routed: the order passes the gate and the account check.
    assert.equal(await probe(probeA, "live-a"), OrderRejectReason.noGateway);
    assert.equal(await probe(probeA, "live-a", "ACC-9"), accountRejectReason("ACC-9", ["ACC-1"]));
  });

  test("the order paths close at the lease deadline, even with the wall clock moved back", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    stub.ackHeartbeats = false;
    await sleep(100); // acks already on their way arrive (they grant the same deadline)
    const realNow = Date.now.bind(Date);
    t.mock.method(Date, "now", () => realNow() - 3_600_000);
    clock.advance(LEASE_MS - 1);
    assert.equal(runner.leaseState, "held");
    assert.equal(await pathOpen(runner, "live-a"), 1);
    clock.advance(1);
    assert.equal(runner.leaseState, "lost");
    assert.equal(await pathOpen(runner, "live-a"), 0, "closed at once, at the deadline");
    assert.equal(await probe(probeA, "live-a"), OrderRejectReason.closed);
    assert.equal(await metric(runner, "hive_runner_self_fences"), 1);
    assert.ok(pidAlive(pids.get("live-a") ?? 0), "not killed before the grace");
    // The orchestrator's command while the lease is lost is recorded, not applied.
    session.send({ case: "setOrderPath", value: { deploymentId: "live-b", open: true, epoch: 6n } });
    await waitFor(() => {
      const record = JSON.parse(readFileSync(join(state, "deployments", "live-b.json"), "utf8")) as {
        ordersOpen: boolean;
        epoch: string;
      };
      return record.ordersOpen && record.epoch === "6";
    }, "live-b's record to hold the command");
    assert.equal(await pathOpen(runner, "live-b"), 0);
  });

  test("a lease renewed before the kill cancels it and restores the commanded state", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    clock.advance(LEASE_MS / 2); // within the grace
    stub.ackHeartbeats = true;
    await waitFor(() => runner.leaseState === "held", "the renewed lease");
    await waitFor(async () => (await pathOpen(runner, "live-b")) === 1, "live-b opened as commanded");
    assert.equal(await pathOpen(runner, "live-a"), 1);
    clock.advance(LEASE_MS / 2 + 1); // past the cancelled kill, within the new lease
    await sleep(100);
    for (const id of ["live-a", "live-b", "bt-1"]) assert.ok(pidAlive(pids.get(id) ?? 0), `${id} alive`);
    assert.equal(await metric(runner, "hive_runner_self_fence_kills"), 0);
  });

  test("a restarted runner restores accounts and the commanded paths once it holds a lease", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    const old = runners.pop();
    await old?.close(); // the processes keep running
    clock = new FakeClock(0);
    runner = await startRunner(clock);
    const again = await stub.waitForRunner("sf-1", session);
    session = again;
    assert.deepEqual(again.register.runningDeployments.map((d) => d.deploymentId).sort(), [
      "bt-1",
      "live-a",
      "live-b",
    ]);
    await waitFor(() => runner.leaseState === "held", "the new runner's lease");
    await waitFor(async () => (await pathOpen(runner, "live-a")) === 1, "live-a reopened");
    assert.equal(await pathOpen(runner, "live-b"), 1);
    assert.equal(await probe(probeA, "live-a", "ACC-9"), accountRejectReason("ACC-9", ["ACC-1"]));
  });

  test("a lease still lost after the grace kills the live processes, not the backtest", async (t) => {
    if (cg.skip) return t.skip(cg.skip);
    stub.ackHeartbeats = false;
    await sleep(100);
    clock.advance(LEASE_MS);
    assert.equal(runner.leaseState, "lost");
    assert.equal(await pathOpen(runner, "live-a"), 0);
    assert.equal(await pathOpen(runner, "live-b"), 0);
    clock.advance(LEASE_MS);
    assert.equal(runner.leaseState, "killed");
    await waitFor(
      () => !pidAlive(pids.get("live-a") ?? 0) && !pidAlive(pids.get("live-b") ?? 0),
      "the kills",
    );
    assert.ok(pidAlive(pids.get("bt-1") ?? 0), "the backtest runs on");
    const hb = await session.next("heartbeat", (h) =>
      ["live-a", "live-b"].every((id) =>
        h.processes.some((p) => p.deploymentId === id && p.exitReason !== ""),
      ),
    );
    for (const id of ["live-a", "live-b"]) {
      const status = hb.processes.find((p) => p.deploymentId === id);
      assert.match(status?.exitReason ?? "", /^self-fenced: lease lost for \d+ ms$/);
      assert.equal(status?.state, ProcessState.KILLED);
    }
    assert.equal(hb.processes.find((p) => p.deploymentId === "bt-1")?.state, ProcessState.RUNNING);
    await waitFor(async () => !(await cg.driver?.list())?.includes("live-a"), "live-a's cgroup removed");
    assert.equal(await metric(runner, "hive_runner_self_fence_kills"), 1);
    stub.ackHeartbeats = true;
    await waitFor(() => runner.leaseState === "held", "the lease back");
  });
});
