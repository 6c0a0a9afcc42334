/**
 * How the orchestrator uses the scheduler over time, with mock runners over the real protocol:
 * what a re-applied instance that is still stopping holds, and how a layout that could not be
 * placed at apply is placed later.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { silentLogger } from "../core/logger.ts";
import { until } from "../core/testing/until.ts";
import { FakeRunner, type FakeRunnerOptions } from "../runner/testing/fake-runner.ts";
import { compileOrchestratorOptions, type OrchestratorOptions } from "./orchestrator-options.ts";
import { startOrchestrator, type RunningOrchestrator } from "./orchestrator-server.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const GiB = 2 ** 30;

/** A backtest node of 8 cores and 32 GiB, no tags. */
const DATA_1 = {
  nodeId: "data-1",
  pool: "backtest" as const,
  tags: [],
  capacity: { cores: 8, memoryBytes: 32 * GiB, exclusiveCores: 0 },
};
let nextPort = 45_000 + (process.pid % 50) * 100;

async function cluster(
  nodes: Pick<FakeRunnerOptions, "nodeId" | "pool" | "tags" | "capacity" | "stopDelayMs">[],
  extra: Partial<OrchestratorOptions> = {},
): Promise<{ orch: RunningOrchestrator; runners: FakeRunner[] }> {
  const dir = mkdtempSync(join(tmpdir(), "hive-orch-place-"));
  const orch = await startOrchestrator(
    compileOrchestratorOptions({
      store: `sqlite:${join(dir, "orchestrator.db")}`,
      runnerListen: { host: "127.0.0.1", port: 0 },
      heartbeatIntervalMs: 50,
      runnerLeaseMs: 300,
      downAfterMs: 600,
      ...extra,
    }),
    { log: silentLogger() },
  );
  const runners = nodes.map((n) => {
    const first = nextPort;
    nextPort += 20;
    const r = new FakeRunner({ ...n, urls: [orch.runnerUrl], portRange: { first, last: first + 19 } });
    r.start();
    return r;
  });
  cleanups.push(async () => {
    for (const r of runners) await r.close();
    await orch.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await until("every node registered", async () =>
    (await orch.core.listNodes()).filter((n) => n.health === "ready").length === nodes.length
      ? true
      : undefined,
  );
  return { orch, runners };
}

const live = readFileSync("test/fixtures/live-gateway-service.yaml", "utf8");

describe("the orchestrator's placements over time", () => {
  test("a re-applied instance is not placed on the cores its old instance holds until that one has stopped", async () => {
    const { orch } = await cluster([
      {
        nodeId: "live-1",
        pool: "live",
        tags: ["live_node", "low_latency"],
        capacity: { cores: 8, memoryBytes: 32 * GiB, exclusiveCores: 1 },
        stopDelayMs: 600, // the old process in its grace period
      },
    ]);
    const v1 = live.replace("standby: 1", "standby: 0");
    await orch.core.applyLayout(v1, "live.yaml");
    await until("v1 running", async () =>
      (await orch.core.getLayout("live-momentum")).state === "running" ? true : undefined,
    );
    const momentum = async () =>
      (await orch.core.listDeployments({ layout: "live-momentum" })).filter((d) => d.service === "momentum");
    const [old] = await momentum();
    await orch.core.applyLayout(v1.replace('LOOKBACK: "20"', 'LOOKBACK: "30"'), "live.yaml");
    const fresh = (await momentum()).find((d) => d.id !== old?.id);
    assert.ok(fresh, "a new instance of the changed service");
    assert.equal(fresh.nodeId, null, "the new instance waits: the node's one pinnable core is still in use");
    assert.match(fresh.pendingReason ?? "", /exclusive cores/);
    const node = (await orch.core.listNodes())[0]!;
    assert.ok(
      node.allocated.exclusiveCores <= 1,
      `pinned cores booked: ${node.allocated.exclusiveCores} of 1`,
    );
    const placed = await until("the new instance running once the old one stopped", async () => {
      const now = (await momentum()).find((d) => d.id === fresh.id);
      return now?.phase === "running" ? now : undefined;
    });
    assert.equal(placed.nodeId, "live-1");
    assert.equal((await orch.core.listNodes())[0]!.allocated.exclusiveCores, 1);
  });

  test("a layout that did not fit at apply is placed later as a whole, the hardest first, or not at all", async () => {
    const { orch } = await cluster([
      {
        nodeId: "big",
        pool: "live",
        tags: [],
        capacity: { cores: 4, memoryBytes: 8 * GiB, exclusiveCores: 0 },
      },
      {
        nodeId: "small",
        pool: "live",
        tags: [],
        capacity: { cores: 2, memoryBytes: 8 * GiB, exclusiveCores: 0 },
      },
    ]);
    const layout = [
      "name: ffd",
      "services:",
      "  - { name: alpha, kind: service, pool: live, command: x, resources: { cores: 2, memory: 256MiB } }",
      "  - { name: zeta, kind: service, pool: live, command: x, resources: { cores: 4, memory: 256MiB } }",
    ].join("\n");
    await orch.core.drain("big", true);
    await orch.core.applyLayout(layout, "ffd.yaml");
    const at = await orch.core.getLayout("ffd");
    assert.ok(
      at.deployments.every((d) => d.nodeId === null),
      "nothing placed while the big node drains",
    );
    await orch.core.drain("big", false);
    const view = await until("the layout running", async () => {
      const l = await orch.core.getLayout("ffd");
      return l.state === "running" ? l : undefined;
    });
    const where = Object.fromEntries(view.deployments.map((d) => [d.service, d.nodeId]));
    assert.deepEqual(where, { zeta: "big", alpha: "small" }, "the 4-core service first, as at apply");
  });

  test("a live layout whose standby has nowhere to go stays wholly pending, not partly running", async () => {
    const { orch, runners } = await cluster([
      {
        nodeId: "live-1",
        pool: "live",
        tags: ["live_node", "low_latency"],
        capacity: { cores: 8, memoryBytes: 32 * GiB, exclusiveCores: 2 },
      },
    ]);
    await orch.core.applyLayout(live, "live.yaml");
    // Passes run on every heartbeat (50 ms): give them time to (wrongly) place part of it.
    await new Promise((r) => setTimeout(r, 500));
    const view = await orch.core.getLayout("live-momentum");
    assert.deepEqual(
      view.deployments.map((d) => d.nodeId),
      view.deployments.map(() => null),
      "no instance placed: the standby cannot avoid its active's node",
    );
    assert.ok(
      view.deployments.every((d) => /standby 0/.test(d.pendingReason ?? "")),
      view.deployments[0]?.pendingReason ?? "",
    );
    assert.equal(runners[0]!.processes.size, 0, "nothing spawned");
    // A pending deployment has no output: a precondition, not a peer that is down.
    const read = async () => {
      for await (const chunk of orch.core.logs(view.deployments[0]!.id, { stream: "stdout", follow: false }))
        void chunk;
    };
    await assert.rejects(read(), {
      code: "failed_precondition",
      message: /has no node .*: it has no output to read/,
    });
  });

  test("explain: a running service is explained without itself in the way, a waiting standby with why it waits", async () => {
    const node = (nodeId: string) => ({
      nodeId,
      pool: "live" as const,
      tags: ["live_node", "low_latency"],
      capacity: { cores: 8, memoryBytes: 32 * GiB, exclusiveCores: 1 },
    });
    const { orch, runners } = await cluster([node("live-1"), node("live-2")]);
    await orch.core.applyLayout(live, "live.yaml");
    await until("running", async () =>
      (await orch.core.getLayout("live-momentum")).state === "running" ? true : undefined,
    );
    const running = await orch.core.explain("live-momentum", "momentum");
    assert.equal(running.decision.ok, true, running.summary);
    assert.equal(running.explained, undefined);
    assert.deepEqual(
      running.instances.map((i) => [i.role, i.phase]),
      [
        ["active", "running"],
        ["standby", "running"],
      ],
    );
    const standby = running.instances.find((i) => i.role === "standby")!;
    await runners.find((r) => r["options"].nodeId === standby.nodeId)!.close();
    const waiting = await until("a standby waiting for a node", async () => {
      const e = await orch.core.explain("live-momentum", "momentum");
      return e.explained !== undefined ? e : undefined;
    });
    const explained = waiting.instances.find((i) => i.id === waiting.explained)!;
    assert.equal(explained.role, "standby");
    assert.equal(waiting.decision.ok, false, "the one node left holds its active");
  });

  test("a layout whose consumer moved off a lost node is running again, without waiting for that node", async () => {
    const data = (nodeId: string) => ({
      nodeId,
      pool: "backtest" as const,
      tags: ["data_node"],
      capacity: { cores: 8, memoryBytes: 32 * GiB, exclusiveCores: 0 },
    });
    const { orch, runners } = await cluster([data("data-1"), data("data-2"), data("data-3")]);
    const wired = [
      "name: bt-wired",
      "services:",
      "  - name: feeder",
      "    kind: feeder",
      "    pool: backtest",
      "    command: node",
      "    resources: { cores: 1, memory: 256MiB }",
      "    sockets: { offers: [{ name: market_data, pattern: pub }] }",
      "  - name: sim",
      "    kind: backtest",
      "    pool: backtest",
      "    command: node",
      "    restart: { policy: always }",
      "    resources: { cores: 6, memory: 256MiB }",
      "    sockets: { consumes: [{ name: market_data, pattern: sub }] }",
      "wires:",
      "  - { from: feeder.market_data, to: sim.market_data }",
    ].join("\n");
    await orch.core.applyLayout(wired, "wired.yaml");
    const before = await until("running", async () => {
      const l = await orch.core.getLayout("bt-wired");
      return l.state === "running" ? l : undefined;
    });
    const sim = before.deployments.find((d) => d.service === "sim")!;
    await runners.find((r) => r["options"].nodeId === sim.nodeId)!.close();
    const after = await until("the layout running again, sim elsewhere", async () => {
      const l = await orch.core.getLayout("bt-wired");
      const moved = l.deployments.find((d) => d.id === sim.id);
      return l.state === "running" && moved?.nodeId !== sim.nodeId ? l : undefined;
    });
    assert.equal(after.deployments.find((d) => d.id === sim.id)?.phase, "running");
  });

  test("a pass that runs out of its placing budget goes on where it stopped: one refusal starves nobody", async () => {
    // A budget of 0: each pass places one piece of pending work, so only the rotation gets past
    // the layout that never fits.
    const { orch } = await cluster([DATA_1], { placeBudgetMs: 0 });
    const backtest = (name: string, cores: number) =>
      [
        `name: ${name}`,
        "services:",
        `  - { name: run, kind: backtest, pool: backtest, command: x, resources: { cores: ${cores}, memory: 256MiB } }`,
      ].join("\n");
    await orch.core.drain("data-1", true);
    await orch.core.applyLayout(backtest("huge", 64), "huge.yaml");
    for (const name of ["small-1", "small-2", "small-3"])
      await orch.core.applyLayout(backtest(name, 1), `${name}.yaml`);
    await orch.core.drain("data-1", false);
    await until("every small backtest running", async () => {
      const layouts = await Promise.all(["small-1", "small-2", "small-3"].map((n) => orch.core.getLayout(n)));
      return layouts.every((l) => l.state === "running") ? true : undefined;
    });
    const huge = await orch.core.getLayout("huge");
    assert.equal(huge.deployments[0]?.nodeId, null);
    assert.match(huge.deployments[0]?.pendingReason ?? "", /not enough cores/);
  });

  test("explain says an instance waits for its whole layout when the layout is placed all or nothing", async () => {
    const { orch } = await cluster([DATA_1]);
    const layout = [
      "name: pair",
      "services:",
      "  - { name: small, kind: backtest, pool: backtest, command: x, resources: { cores: 1, memory: 256MiB } }",
      "  - { name: huge, kind: backtest, pool: backtest, command: x, resources: { cores: 64, memory: 256MiB } }",
    ].join("\n");
    await orch.core.applyLayout(layout, "pair.yaml");
    const e = await orch.core.explain("pair", "small");
    // data-1 could take the small one alone, but the generation is placed together or not at all.
    assert.equal(e.decision.ok, true);
    assert.match(e.waitsForLayout ?? "", /huge|cores/);
    assert.equal(
      (await orch.core.getLayout("pair")).deployments.every((d) => d.nodeId === null),
      true,
    );
  });
});
