/**
 * The orchestrator where its own state and the runners' disagree for a while: a restart between a
 * lost active and its relocation, a spawn whose answer never came, a runner that reconnects while
 * a spawn is in flight, and a crash between the two halves of a role swap.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { silentLogger } from "../core/logger.ts";
import { until } from "../core/testing/until.ts";
import {
  Pool,
  PROTOCOL_VERSION,
  ProcessState,
  RegisterSchema,
  type OrchestratorMessage,
} from "../protocol/index.ts";
import type { FakeRunner } from "../runner/testing/fake-runner.ts";
import { Gateways } from "./gateways.ts";
import { Orchestrator } from "./orchestrator.ts";
import type { RunningOrchestrator } from "./orchestrator-server.ts";
import { RunnerSession } from "./runner-session.ts";
import type { ServiceProvider, SpawnOutcome } from "./service-provider.ts";
import type { DeploymentRecord } from "./store/store-records.ts";
import { MemoryStore } from "./store/memory-store.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import {
  fencedMomentum as live,
  liveFakeRunner,
  PAPER_GATEWAY,
  startFencedOrchestrator,
} from "./testing/live-cluster.ts";

const LEASE = { heartbeatIntervalMs: 50, suspectAfterMs: 10_000, downAfterMs: 20_000 };

const BACKTEST = `
name: bt
services:
  - name: sim
    kind: backtest
    pool: backtest
    command: node
    resources: { cores: 1, memory: 64MiB }
    restart: { policy: on-failure, maxRestarts: 2, initialBackoffMs: 10, maxBackoffMs: 20 }
`;

function register(
  nodeId: string,
  pool: Pool,
  running: MessageInitShape<typeof RegisterSchema>["runningDeployments"] = [],
) {
  return create(RegisterSchema, {
    protocolVersion: PROTOCOL_VERSION,
    nodeId,
    pool,
    capacity: { cores: 8, memoryBytes: 8n * 2n ** 30n, exclusiveCores: 0 },
    portRange: { first: 40000, last: 40049 },
    runningDeployments: running,
  });
}

/** A runner session whose messages land in `sent`. */
function session(nodeId: string, sent: OrchestratorMessage[]): RunnerSession {
  return new RunnerSession(nodeId, { push: (m) => sent.push(m), close() {} });
}

/** A provider that runs nothing: spawns answer as `spawn` says; every node is reachable. */
function provider(spawn: ServiceProvider["spawn"]): ServiceProvider {
  return {
    reachable: () => true,
    spawn,
    stop: async () => {},
    routes: async () => {},
    logs: () => {
      throw new Error("no logs here");
    },
    orderPath: () => {},
  };
}

describe("a relocated live strategy after an orchestrator restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-recovery-"));
  const gateway = new FakeGateway();
  const runners: FakeRunner[] = [];
  let orch: RunningOrchestrator | undefined;
  after(async () => {
    for (const r of runners) await r.close();
    await orch?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("takes a new epoch, so the gateway refuses the lost copy's (id, epoch)", async () => {
    const start = async (port = 0) => {
      orch = await startFencedOrchestrator(dir, gateway, port);
      return orch;
    };
    const runnerOn = (o: RunningOrchestrator, nodeId: string, first: number) => {
      const r = liveFakeRunner(o, nodeId, first);
      runners.push(r);
      return r;
    };
    const first = await start();
    const r1 = runnerOn(first, "live-1", 43300);
    await until("live-1 registered", () => r1.state === "registered" || undefined);
    await first.core.applyLayout(live(0), "fenced.yaml");
    const lost = await until("fenced to the first copy", () => gateway.fences.get("acct-1"));
    await r1.close(); // the node is lost; there is no standby and no other node yet
    await until("the active waits for a node", async () =>
      (await first.core.listDeployments({}))[0]?.nodeId === null ? true : undefined,
    );
    const port = Number(new URL(first.runnerUrl).port);
    await first.close();
    const second = await start(port);
    const r2 = runnerOn(second, "live-2", 43400);
    await until("opened on live-2", () => r2.processes.get(lost.deploymentId)?.ordersEnabled || undefined);
    const now = gateway.fences.get("acct-1")!;
    assert.equal(now.deploymentId, lost.deploymentId, "the same deployment, started elsewhere");
    assert.ok(
      BigInt(now.epoch) > BigInt(lost.epoch),
      `fenced at epoch ${now.epoch}, the lost copy had ${lost.epoch}`,
    );
    assert.equal(r2.processes.get(lost.deploymentId)?.epoch, BigInt(now.epoch));
  });
});

describe("spawns whose answer goes missing", () => {
  test("an unanswered spawn is asked again with the same request id, not counted as a crash", async () => {
    const requests: string[] = [];
    const store = new MemoryStore();
    // Store writes of the waiting reason: one per wait, not one per ask.
    let reasonWrites = 0;
    const put = store.putDeployment.bind(store);
    store.putDeployment = (rec) => {
      if (rec.pendingReason?.startsWith("spawn not answered") === true) reasonWrites++;
      return put(rec);
    };
    const o = new Orchestrator({
      store,
      log: silentLogger(),
      lease: LEASE,
      provider: () =>
        provider((_node, request): Promise<SpawnOutcome> => {
          requests.push(request.requestId ?? "");
          // The first three answers never come (a dataset still loading); the runner answers the fourth.
          if (requests.length <= 3) {
            return Promise.reject(new HiveError(ErrorCode.Unavailable, "spawn: no answer in 30000 ms"));
          }
          return Promise.resolve({ ok: true, pid: 42, addresses: {} });
        }),
    });
    await o.load();
    o.onRegister(register("n1", Pool.BACKTEST), session("n1", []));
    await o.applyLayout(BACKTEST, "bt.yaml");
    const reasons = new Set<string>();
    const d = await until(
      "running after the retries",
      async () => {
        const now = (await o.listDeployments())[0];
        if (now?.pendingReason) reasons.add(now.pendingReason);
        return now?.phase === "running" ? now : undefined;
      },
      8_000,
    );
    await o.close();
    assert.equal(requests.length, 4);
    assert.equal(requests[1], requests[0], "the retry carries the first request's id");
    assert.equal(requests[3], requests[0]);
    assert.equal(reasonWrites, 1, "the waiting reason was written once for three unanswered asks");
    assert.deepEqual(
      [...reasons].map((r) => r.replace(/since \S+ /, "since <t> ")),
      ["spawn not answered since <t> (spawn: no answer in 30000 ms); asking again every 1 s"],
      "one reason for the whole wait, with when it began",
    );
    assert.equal(d.pendingReason, null, "answered: no reason left");
    assert.match(requests[0] ?? "", /^spawn-bt\.sim-/);
    assert.equal(d.restarts, 0, "an unanswered spawn is not a crash");
    assert.equal(d.lastExit, null);
    assert.equal(d.pid, 42);
  });

  test("a runner that reconnects with the process a spawn in flight started keeps it", async () => {
    const o = new Orchestrator({ store: new MemoryStore(), log: silentLogger(), lease: LEASE });
    await o.load();
    const before: OrchestratorMessage[] = [];
    const afterwards: OrchestratorMessage[] = [];
    o.onRegister(register("n1", Pool.BACKTEST), session("n1", before));
    await o.applyLayout(BACKTEST, "bt.yaml");
    const spawn = await until("the spawn sent", () =>
      before.map((m) => m.message).find((m) => m.case === "spawnRequest"),
    );
    const id = spawn.value.deploymentId;
    // The runner finished the spawn, but its stream broke before the answer got through; it
    // registers again, reporting the process.
    o.onRegister(
      register("n1", Pool.BACKTEST, [
        {
          deploymentId: id,
          status: { deploymentId: id, state: ProcessState.RUNNING, pid: 42 },
          addresses: [],
        },
      ]),
      session("n1", afterwards),
    );
    await new Promise((r) => setTimeout(r, 100)); // passes run; the old stream's failure lands
    const [d] = await o.listDeployments();
    await o.close();
    assert.deepEqual(
      afterwards.map((m) => m.message.case).filter((c) => c === "stopRequest" || c === "spawnRequest"),
      [],
      "neither stopped nor spawned again",
    );
    assert.equal(d?.phase, "running");
    assert.equal(d?.pid, 42);
    assert.equal(d?.restarts, 0);
    assert.equal(d?.lastExit, null);
  });
});

describe("an orchestrator restarted while a runner is still spawning", () => {
  test("asks again instead of taking the spawn for dead; restart policy never gives up on nothing", async () => {
    const store = new MemoryStore();
    const layout = BACKTEST.replace("policy: on-failure", "policy: never");
    // The first orchestrator's spawn never gets its answer: it goes down while the dataset loads.
    const first = new Orchestrator({
      store,
      log: silentLogger(),
      lease: LEASE,
      provider: () => provider(() => new Promise<SpawnOutcome>(() => undefined)),
    });
    await first.load();
    first.onRegister(register("n1", Pool.BACKTEST), session("n1", []));
    await first.applyLayout(layout, "bt.yaml");
    const [placed] = await until("the spawn asked", async () => {
      const ds = await first.listDeployments();
      return ds[0]?.phase === "starting" ? ds : undefined;
    });
    await first.close();
    const asked: string[] = [];
    const second = new Orchestrator({
      store,
      log: silentLogger(),
      lease: LEASE,
      provider: () =>
        provider((_node, request) => {
          asked.push(request.deploymentId ?? "");
          return Promise.resolve({ ok: true, pid: 77, addresses: {} });
        }),
    });
    await second.load();
    // The runner registers again: the spawn is still under way there (reported as starting).
    second.onRegister(
      register("n1", Pool.BACKTEST, [
        { deploymentId: placed!.id, status: { deploymentId: placed!.id, state: ProcessState.STARTING } },
      ]),
      session("n1", []),
    );
    const d = await until("running", async () =>
      (await second.listDeployments()).find((x) => x.phase === "running"),
    );
    await second.close();
    assert.deepEqual(asked, [placed!.id], "asked again once, and answered by the runner");
    assert.equal(d.pid, 77);
    assert.equal(d.lastExit, null, "not taken for dead");
    assert.equal(d.pendingReason, null);
  });
});

describe("role swaps", () => {
  test("a manual failover writes the demotion and the promotion as one batch", async () => {
    const store = new MemoryStore();
    const batches: DeploymentRecord[][] = [];
    const single = store.putDeployment.bind(store);
    const many = store.putDeployments.bind(store);
    store.putDeployment = (rec) => {
      batches.push([rec]);
      return single(rec);
    };
    store.putDeployments = (recs) => {
      batches.push([...recs]);
      return many(recs);
    };
    const gateway = new FakeGateway();
    const o = new Orchestrator({
      store,
      log: silentLogger(),
      lease: LEASE,
      gateways: new Gateways([PAPER_GATEWAY], () => gateway, silentLogger()),
      provider: () => provider(() => Promise.resolve({ ok: true, pid: 7, addresses: {} })),
    });
    await o.load();
    o.onRegister(register("live-1", Pool.LIVE), session("live-1", []));
    o.onRegister(register("live-2", Pool.LIVE), session("live-2", []));
    await o.applyLayout(live(1), "fenced.yaml");
    const first = await until("the active fenced", () => gateway.fences.get("acct-1"));
    batches.length = 0;
    const view = await o.failover("fenced", "momentum");
    await o.close();
    assert.equal(view.from, first.deploymentId);
    const swap = batches.find((b) => b.some((r) => r.id === view.to && r.role === "active"));
    assert.ok(swap, "the promotion was written");
    assert.deepEqual(
      swap.map((r) => [r.id, r.role]).sort(),
      [
        [view.from, "standby"],
        [view.to, "active"],
      ].sort(),
      "demotion and promotion in the same batch",
    );
    assert.equal(swap.find((r) => r.id === view.to)?.epoch, 0n, "the promoted one takes a new epoch");
    assert.ok(BigInt(view.epoch) > BigInt(first.epoch));
  });
});

describe("pending work that cannot be placed", () => {
  test("asks for no pass once every piece has been tried: a finished rotation waits for the next event", async () => {
    const o = new Orchestrator({
      store: new MemoryStore(),
      log: silentLogger(),
      lease: LEASE,
      // Each pass places one piece: only the rotation moves on.
      placeBudgetMs: 0,
      provider: () => provider(() => Promise.resolve({ ok: true, pid: 1, addresses: {} })),
    });
    await o.load();
    o.onRegister(register("n1", Pool.BACKTEST), session("n1", []));
    // 16 cores each on a node of 8: none will ever fit.
    for (let i = 0; i < 5; i++)
      await o.applyLayout(BACKTEST.replace("bt", `huge-${i}`).replace("cores: 1", "cores: 16"), "h.yaml");
    await new Promise((r) => setTimeout(r, 200));
    const internals = o as unknown as { pass(): Promise<void> };
    const pass = internals.pass.bind(o);
    let passes = 0;
    internals.pass = () => {
      passes++;
      return pass();
    };
    await new Promise((r) => setTimeout(r, 1000));
    await o.close();
    assert.ok(passes < 10, `${passes} passes in a second with nothing that can be done`);
    const listed = await o.listDeployments();
    assert.equal(listed.length, 5);
    assert.ok(listed.every((d) => d.nodeId === null && /cores/.test(d.pendingReason ?? "")));
  });
});
