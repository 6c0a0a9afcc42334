/**
 * The orchestrator end to end in one process: the real daemon (runner protocol over HTTP/2 on
 * loopback, SQLite store in a temp dir, reconcile loop) with mock runners that speak the real
 * protocol with fake processes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { silentLogger } from "../core/logger.ts";
import { ValidationError } from "../domain/index.ts";
import { ProcessState } from "../protocol/index.ts";
import { FakeRunner } from "../runner/testing/fake-runner.ts";
import type { DeploymentView } from "./control-plane.ts";
import { compileOrchestratorOptions } from "./orchestrator-options.ts";
import { startOrchestrator, type RunningOrchestrator } from "./orchestrator-server.ts";
import { until } from "../core/testing/until.ts";

const dir = mkdtempSync(join(tmpdir(), "hive-orch-"));
const store = `sqlite:${join(dir, "orchestrator.db")}`;
const runners: FakeRunner[] = [];
let orch: RunningOrchestrator;
/** The backtest moved off a lost data node by the "lost node" test. */
let movedAway: { id: string; from: string; to: string } | undefined;

after(async () => {
  for (const r of runners) await r.close();
  await orch?.close();
  rmSync(dir, { recursive: true, force: true });
});

const options = (port = 0) =>
  compileOrchestratorOptions({
    store,
    runnerListen: { host: "127.0.0.1", port },
    heartbeatIntervalMs: 50,
    runnerLeaseMs: 200,
    downAfterMs: 400,
    stopGraceMs: 100,
  });

function mock(nodeId: string, pool: "live" | "backtest", tags: string[], first: number): FakeRunner {
  const r = new FakeRunner({
    nodeId,
    pool,
    tags,
    urls: [orch.runnerUrl],
    portRange: { first, last: first + 49 },
    capacity: { cores: 8, memoryBytes: 32 * 2 ** 30, exclusiveCores: 6 },
  });
  runners.push(r);
  r.start();
  return r;
}

const live = readFileSync("test/fixtures/live-gateway-service.yaml", "utf8");
const backtest = readFileSync("examples/layouts/backtest-simulation.yaml", "utf8");
const byService = (ds: readonly DeploymentView[], s: string) => ds.filter((d) => d.service === s);

describe("orchestrator with mock runners", () => {
  test("applies the live layout: placed, spawned, wired, running", async () => {
    orch = await startOrchestrator(options(), { log: silentLogger() });
    mock("live-1", "live", ["live_node", "low_latency"], 41000);
    mock("live-2", "live", ["live_node", "low_latency"], 41100);
    mock("data-1", "backtest", ["data_node"], 42000);
    mock("data-2", "backtest", ["data_node"], 42100);
    await until("four nodes", async () => ((await orch.core.listNodes()).length === 4 ? true : undefined));
    const result = await orch.core.applyLayout(live, "live-trading.yaml");
    assert.deepEqual([...result.added].sort(), ["feeder", "gateway", "momentum"]);
    const view = await until("the live layout running", async () => {
      const l = await orch.core.getLayout("live-momentum");
      return l.state === "running" ? l : undefined;
    });
    const momentum = byService(view.deployments, "momentum");
    assert.equal(momentum.length, 2);
    assert.notEqual(momentum[0]?.nodeId, momentum[1]?.nodeId, "a standby never shares its active's node");
    assert.ok(view.deployments.every((d) => d.nodeId?.startsWith("live-")));
    assert.ok(view.deployments.every((d) => d.phase === "running"));
    assert.match(
      byService(view.deployments, "feeder")[0]?.addresses.market_data ?? "",
      /^tcp:\/\/127\.0\.0\.1:41[01]\d\d$/,
    );
    // Both momentum instances got routes: their runners acknowledged a route update.
    for (const m of momentum)
      assert.ok(runners.find((r) => r["options"].nodeId === m.nodeId)!.routeVersions.length > 0);
    // The active gets an epoch when its order path is opened (just after it runs); the standby
    // gets one only when it is promoted.
    const active = momentum.find((m) => m.role === "active")!;
    const epoch = await until("the active's epoch", async () => {
      const d = (await orch.core.listDeployments({ layout: "live-momentum" })).find(
        (x) => x.id === active.id,
      );
      return d && d.epoch !== "0" ? d.epoch : undefined;
    });
    assert.ok(BigInt(epoch) > 0n);
    assert.equal(momentum.find((m) => m.role === "standby")?.epoch, "0");
  });

  test("a bad layout is refused with file, line and field, and nothing changes", async () => {
    await assert.rejects(
      orch.core.applyLayout(live.replace("pool: live", "pool: gpu"), "bad.yaml"),
      (err: unknown) =>
        err instanceof ValidationError && /bad\.yaml:\d+:\d+: services\[0\]\.pool/.test(err.message),
    );
    assert.equal((await orch.core.getLayout("live-momentum")).generation, 1);
  });

  test("backtests go to data nodes; a finished one is not restarted, a crashed service is", async () => {
    await orch.core.applyLayout(backtest, "backtest-simulation.yaml");
    const view = await until("backtests running", async () => {
      const l = await orch.core.getLayout("backtest-momentum");
      return l.state === "running" ? l : undefined;
    });
    assert.ok(view.deployments.every((d) => d.nodeId?.startsWith("data-")));
    const first = view.deployments[0]!;
    runners.find((r) => r["options"].nodeId === first.nodeId)!.exit(first.id, 0);
    const done = await until("the finished backtest", async () =>
      (await orch.core.listDeployments()).find((d) => d.id === first.id && d.phase === "exited"),
    );
    assert.equal(done.restarts, 0);
    const feeder = byService(await orch.core.listDeployments({ layout: "live-momentum" }), "feeder")[0]!;
    runners.find((r) => r["options"].nodeId === feeder.nodeId)!.exit(feeder.id, 3);
    const restarted = await until("the feeder restarted", async () =>
      (await orch.core.listDeployments()).find(
        (d) => d.id === feeder.id && d.restarts === 1 && d.phase === "running",
      ),
    );
    assert.equal(restarted.lastExit?.reason, "exited with code 3");
  });

  test("a lost data node's backtests are placed again on the other", async () => {
    const before = await orch.core.listDeployments({ layout: "backtest-momentum" });
    const victim = before.find((d) => d.phase === "running")!;
    const lost = runners.find((r) => r["options"].nodeId === victim.nodeId)!;
    await lost.close(); // no more heartbeats: suspect, then down
    const moved = await until("the backtest re-placed and running", async () =>
      (await orch.core.listDeployments()).find(
        (d) => d.id === victim.id && d.phase === "running" && d.nodeId !== victim.nodeId,
      ),
    );
    assert.match(moved.nodeId ?? "", /^data-/);
    movedAway = { id: victim.id, from: victim.nodeId ?? "", to: moved.nodeId ?? "" };
    const nodes = await orch.core.listNodes();
    assert.equal(nodes.find((n) => n.id === victim.nodeId)?.health, "down");
  });

  test("a node that comes back after its work moved does not take it back: its copy is stopped", async () => {
    assert.ok(movedAway);
    const old = runners.find((r) => r["options"].nodeId === movedAway!.from)!;
    // The node returns, its runner still running the old copy (it was only cut off).
    const back = mock(movedAway.from, "backtest", ["data_node"], 43000);
    for (const [id, p] of old.processes) back.processes.set(id, { ...p });
    await until("the stale copy stopped", () =>
      back.processes.get(movedAway!.id)?.state === ProcessState.EXITED ? true : undefined,
    );
    const d = (await orch.core.listDeployments()).find((x) => x.id === movedAway!.id);
    assert.equal(d?.nodeId, movedAway.to, "the deployment stays where it was moved");
    assert.equal(d?.phase, "running");
  });

  test("an unplaceable service stays pending with the scheduler's reasons", async () => {
    const gpu = backtest
      .replace("name: backtest-momentum", "name: needs-gpu")
      .replaceAll("[data_node]", "[data_node, gpu]");
    await orch.core.applyLayout(gpu, "gpu.yaml");
    const view = await orch.core.getLayout("needs-gpu");
    assert.equal(view.state, "pending");
    assert.match(view.deployments[0]?.pendingReason ?? "", /2 nodes: missing a required tag/);
    assert.match(view.deployments[0]?.pendingReason ?? "", /2: pool mismatch/);
    const e = await orch.core.explain("needs-gpu", "sweep-fast");
    assert.equal(e.decision.ok, false);
    await orch.core.stopLayout("needs-gpu");
    await until("needs-gpu gone", async () =>
      (await orch.core.listLayouts()).some((l) => l.name === "needs-gpu") ? undefined : true,
    );
  });

  test("a sweep that finishes completes its layout and gives its cores and memory back", async () => {
    const allocated = async () => {
      const nodes = (await orch.core.listNodes()).filter((n) => n.pool === "backtest");
      return {
        cores: nodes.reduce((sum, n) => sum + n.allocated.cores, 0),
        memoryBytes: nodes.reduce((sum, n) => sum + n.allocated.memoryBytes, 0),
      };
    };
    const before = await allocated();
    await orch.core.applyLayout(
      backtest.replace("name: backtest-momentum", "name: quick-sweep"),
      "quick.yaml",
    );
    const view = await until("the sweep running", async () => {
      const l = await orch.core.getLayout("quick-sweep");
      return l.state === "running" ? l : undefined;
    });
    const during = await allocated();
    assert.equal(during.cores, before.cores + 1.5, "three backtests of 0.5 cores each are placed");
    assert.equal(during.memoryBytes, before.memoryBytes + 3 * 512 * 2 ** 20);
    // Not closed rather than registered: on a loaded machine a runner may be re-registering (a node
    // called down is heard again only once it registers), and what it runs is reported then.
    const mockOn = (nodeId: string | null) =>
      runners.find((r) => r["options"].nodeId === nodeId && r.state !== "closed")!;
    const [last, ...rest] = view.deployments;
    for (const d of rest) mockOn(d.nodeId).exit(d.id, 0);
    await until("two of three finished", async () =>
      (await orch.core.getLayout("quick-sweep")).deployments.filter((d) => d.phase === "exited").length === 2
        ? true
        : undefined,
    );
    assert.equal((await orch.core.getLayout("quick-sweep")).state, "running", "one backtest still runs");
    assert.equal((await allocated()).cores, before.cores + 0.5, "finished backtests hold no cores");
    mockOn(last!.nodeId).exit(last!.id, 0);
    const done = await until("the sweep completed", async () => {
      const l = await orch.core.getLayout("quick-sweep");
      return l.state === "completed" ? l : undefined;
    });
    assert.ok(done.deployments.every((d) => d.phase === "exited" && d.restarts === 0));
    assert.deepEqual(await allocated(), before);
    await orch.core.stopLayout("quick-sweep");
    await until("quick-sweep gone", async () =>
      (await orch.core.listLayouts()).some((l) => l.name === "quick-sweep") ? undefined : true,
    );
  });

  test("a restarted orchestrator re-adopts what runs and restarts nothing", async () => {
    const before = (await orch.core.listDeployments({ layout: "live-momentum" })).map((d) => [d.id, d.pid]);
    const spawnsBefore = runners.map((r) => r.processes.size);
    const port = Number(new URL(orch.runnerUrl).port);
    await orch.close();
    orch = await startOrchestrator(options(port), { log: silentLogger() });
    await until("the live layout running again", async () => {
      const l = await orch.core.getLayout("live-momentum").catch(() => undefined);
      return l?.state === "running" ? l : undefined;
    });
    const after = (await orch.core.listDeployments({ layout: "live-momentum" })).map((d) => [d.id, d.pid]);
    assert.deepEqual(after, before, "same deployments with the same pids: nothing restarted");
    assert.deepEqual(
      runners.map((r) => r.processes.size),
      spawnsBefore,
    );
  });

  // Fenced failover (the standby promoted, fenced, opened; a new standby placed) is in
  // failover.test.ts, with a gateway the orchestrator fences. Here the orders go to a gateway that
  // is a service of the layout, which the orchestrator cannot fence.
  test("a lost active that trades through no gateway it can fence is not failed over: the lost copy may still be sending", async () => {
    const before = await orch.core.listDeployments({ layout: "live-momentum" });
    const active = before.find((d) => d.service === "momentum" && d.role === "active")!;
    const standby = before.find((d) => d.service === "momentum" && d.role === "standby")!;
    const mockOf = (nodeId: string | null) =>
      runners.find((r) => r["options"].nodeId === nodeId && r.state === "registered")!;
    await until("the active's order path open", () =>
      mockOf(active.nodeId).processes.get(active.id)?.ordersEnabled ? true : undefined,
    );
    await mockOf(active.nodeId).close();
    const failed = await until("the lost active failed, for a person to look at", async () => {
      const d = (await orch.core.listDeployments({ layout: "live-momentum" })).find(
        (x) => x.id === active.id,
      );
      return d?.phase === "failed" ? d : undefined;
    });
    assert.match(
      failed.pendingReason ?? "",
      /moves only by fenced failover, and this one trades through no gateway/,
    );
    await new Promise((r) => setTimeout(r, 300)); // passes run meanwhile: none may promote it
    const now = await orch.core.listDeployments({ layout: "live-momentum" });
    assert.equal(now.find((d) => d.id === standby.id)?.role, "standby", "not promoted");
    assert.equal(
      mockOf(standby.nodeId).processes.get(standby.id)?.ordersEnabled,
      false,
      "its path stays closed",
    );
    await assert.rejects(
      orch.core.failover("live-momentum", "momentum"),
      (err: unknown) =>
        err instanceof HiveError &&
        err.code === ErrorCode.FailedPrecondition &&
        /trades through no gateway/.test(err.message),
    );
  });

  test("stopping a layout stops its processes and forgets it", async () => {
    await orch.core.stopLayout("live-momentum");
    await until("live-momentum gone", async () =>
      (await orch.core.listLayouts()).some((l) => l.name === "live-momentum") ? undefined : true,
    );
    // Connected runners only: the node lost in the previous test cannot be asked anything.
    const stillRunning = runners
      .filter((r) => r.state === "registered")
      .flatMap((r) =>
        [...r.processes.values()].filter(
          (p) => p.request.layout === "live-momentum" && p.state === ProcessState.RUNNING,
        ),
      );
    assert.deepEqual(stillRunning, []);
  });
});
