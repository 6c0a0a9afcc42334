/**
 * Ordered failover in the orchestrator (DESIGN.md §3), with the real daemon, mock runners over
 * the real protocol and a fake gateway that can hold its fence answers back or go down: an
 * order path opens only after every account is fenced to it, a promotion takes a new epoch, a
 * lost active fails over to its warm standby, and an unreachable gateway keeps the standby closed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ValidationError } from "../domain/index.ts";
import { FakeRunner } from "../runner/testing/fake-runner.ts";
import type { DeploymentView } from "./control-plane.ts";
import type { RunningOrchestrator } from "./orchestrator-server.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import { liveFakeRunner, startFencedOrchestrator } from "./testing/live-cluster.ts";
import { until } from "../core/testing/until.ts";

const LAYOUT = `
name: fenced
services:
  - name: feeder
    kind: feeder
    pool: live
    command: node
    resources: { cores: 0.5, memory: 64MiB }
    sockets: { offers: [{ name: market_data, pattern: pub }] }
  - name: momentum
    kind: strategy
    pool: live
    command: node
    accounts: [acct-1, acct-2]
    resources: { cores: 0.5, memory: 64MiB }
    sockets:
      consumes:
        - { name: market_data, pattern: sub }
        - { name: orders, pattern: dealer }
    standby: 1
wires:
  - { from: feeder.market_data, to: momentum.market_data }
gateways:
  - { name: paper, orders: [momentum.orders], marketData: [feeder.market_data] }
`;

describe("ordered failover through the gateway", () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-failover-"));
  const gateway = new FakeGateway();
  const runners: FakeRunner[] = [];
  let orch: RunningOrchestrator;
  const start = async (port = 0) => {
    orch = await startFencedOrchestrator(dir, gateway, port);
  };
  const runnerOn = (nodeId: string, first: number) => {
    const r = liveFakeRunner(orch, nodeId, first);
    runners.push(r);
    return r;
  };
  const mockOf = (nodeId: string | null) =>
    runners.find((r) => r["options"].nodeId === nodeId && r.state === "registered");
  const momentum = async () => {
    const ds = await orch.core.listDeployments({ layout: "fenced" });
    return ds.filter((d) => d.service === "momentum");
  };
  const role = (ds: DeploymentView[], r: "active" | "standby") => ds.filter((d) => d.role === r);
  /** Momentum as a failover leaves it once settled: the active trading, a standby running. */
  const steady = () =>
    until(
      "an open active and a running standby",
      async () => {
        const ds = await momentum();
        const [a] = role(ds, "active");
        const [s] = role(ds, "standby");
        return a &&
          s?.phase === "running" &&
          mockOf(s.nodeId) &&
          mockOf(a.nodeId)?.processes.get(a.id)?.ordersEnabled
          ? ds
          : undefined;
      },
      15_000,
    );

  /**
   * Takes the active's runner away (its stream ends; it keeps what it runs, the active's path
   * open), then `comeBack` starts a runner on that node that reports the same processes.
   */
  const awayWithPathOpen = async (active: DeploymentView) => {
    const old = mockOf(active.nodeId)!;
    const kept = [...old.processes.entries()].map(([id, p]) => [id, { ...p }] as const);
    assert.equal(kept.find(([id]) => id === active.id)?.[1].ordersEnabled, true);
    await old.close();
    return (first: number, stopDelayMs?: number) => {
      const back = new FakeRunner({
        nodeId: active.nodeId!,
        pool: "live",
        urls: [orch.runnerUrl],
        portRange: { first, last: first + 49 },
        capacity: { cores: 4, memoryBytes: 8 * 2 ** 30, exclusiveCores: 0 },
        stopDelayMs,
      });
      for (const [id, p] of kept) back.processes.set(id, p);
      runners.push(back);
      back.start();
      return back;
    };
  };

  before(async () => {
    await start();
    runnerOn("live-1", 43000);
    runnerOn("live-2", 43100);
    runnerOn("live-3", 43200);
  });
  after(async () => {
    for (const r of runners) await r.close();
    await orch?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a layout naming an unknown gateway is refused with the field", async () => {
    await until("three runners", () => runners.every((r) => r.state === "registered") || undefined);
    await assert.rejects(
      orch.core.applyLayout(LAYOUT.replace("- { name: paper,", "- { name: other,"), "bad.yaml"),
      (err: unknown) =>
        err instanceof ValidationError &&
        err.issues.some((i) => i.path === "gateways[0].name" && /paper/.test(i.expected)),
    );
  });

  test("the active's order path opens only after both accounts are fenced to it", async () => {
    gateway.hold();
    await orch.core.applyLayout(LAYOUT, "fenced.yaml");
    const [active] = role(
      await until("momentum running", async () => {
        const ds = await momentum();
        return ds.length === 2 && ds.every((d) => d.phase === "running") ? ds : undefined;
      }),
      "active",
    );
    await until("a fence waiting", () => gateway.heldCount > 0 || undefined);
    await new Promise((r) => setTimeout(r, 150)); // passes run meanwhile: none may open it
    const p = mockOf(active!.nodeId)?.processes.get(active!.id);
    assert.equal(p?.ordersEnabled, false, "closed while the fence is unanswered");
    gateway.release();
    await until("opened", () =>
      mockOf(active!.nodeId)?.processes.get(active!.id)?.ordersEnabled ? true : undefined,
    );
    const fenced = ["acct-1", "acct-2"].map((a) => gateway.fences.get(a));
    assert.deepEqual(
      fenced.map((f) => f?.deploymentId),
      [active!.id, active!.id],
    );
    const epoch = mockOf(active!.nodeId)?.processes.get(active!.id)?.epoch;
    assert.equal(epoch?.toString(), fenced[0]?.epoch, "the runner stamps the fenced epoch");
    const standby = role(await momentum(), "standby")[0]!;
    assert.equal(
      mockOf(standby.nodeId)?.processes.get(standby.id)?.ordersEnabled,
      false,
      "the standby stays closed",
    );
    assert.deepEqual(gateway.marketSources.length, 1, "the paper broker follows the feeder");
  });

  test("hive failover: fence to the standby with a higher epoch, then open it; the old active is demoted", async () => {
    const before = await momentum();
    const [active] = role(before, "active");
    const [standby] = role(before, "standby");
    const oldEpoch = BigInt(gateway.fences.get("acct-1")!.epoch);
    const result = await orch.core.failover("fenced", "momentum");
    assert.equal(result.from, active!.id);
    assert.equal(result.to, standby!.id);
    assert.ok(BigInt(result.epoch) > oldEpoch, `${result.epoch} > ${oldEpoch}`);
    assert.equal(gateway.fences.get("acct-1")?.deploymentId, standby!.id);
    assert.equal(gateway.fences.get("acct-2")?.epoch, result.epoch);
    await until("the standby's runner opened it", () =>
      mockOf(standby!.nodeId)?.processes.get(standby!.id)?.ordersEnabled ? true : undefined,
    );
    await until("the old active closed", () =>
      mockOf(active!.nodeId)?.processes.get(active!.id)?.ordersEnabled === false ? true : undefined,
    );
    const after = await momentum();
    assert.equal(after.find((d) => d.id === active!.id)?.role, "standby");
  });

  test("a lost active with the gateway down: the standby stays closed until the gateway answers", async () => {
    const before = await momentum();
    const [active] = role(before, "active");
    const [standby] = role(before, "standby");
    gateway.down = true;
    await mockOf(active!.nodeId)!.close();
    await until("the standby promoted", async () =>
      (await momentum()).find((d) => d.id === standby!.id)?.role === "active" ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(
      mockOf(standby!.nodeId)?.processes.get(standby!.id)?.ordersEnabled,
      false,
      "never opened unfenced",
    );
    gateway.down = false;
    await until("opened once fenced", () =>
      mockOf(standby!.nodeId)?.processes.get(standby!.id)?.ordersEnabled ? true : undefined,
    );
    assert.equal(gateway.fences.get("acct-1")?.deploymentId, standby!.id);
    // The fence came before the open, and the open carries that epoch.
    assert.equal(
      mockOf(standby!.nodeId)?.processes.get(standby!.id)?.epoch.toString(),
      gateway.fences.get("acct-1")?.epoch,
    );
    const now = await until("a new standby placed and running", async () => {
      const ds = await momentum();
      return role(ds, "standby").some((d) => d.phase === "running") && !ds.some((d) => d.id === active!.id)
        ? ds
        : undefined;
    });
    assert.equal(role(now, "active").length, 1);
  });

  test("a restarted orchestrator re-fences the same epoch: no new epoch, no order path closed for good", async () => {
    const [active] = role(await momentum(), "active");
    const epochBefore = gateway.fences.get("acct-1")!.epoch;
    const port = Number(new URL(orch.runnerUrl).port);
    await orch.close();
    await start(port);
    await until(
      "re-adopted and open",
      async () => {
        const d = (await momentum()).find((x) => x.id === active!.id);
        return d?.phase === "running" && mockOf(active!.nodeId)?.processes.get(active!.id)?.ordersEnabled
          ? true
          : undefined;
      },
      15_000,
    );
    assert.equal(gateway.fences.get("acct-1")?.epoch, epochBefore);
  });

  test("a demoted active whose close never reached it has its path closed when its runner registers again", async () => {
    const [active] = role(await steady(), "active");
    // Its runner is away (a stream that broke, within its lease).
    const comeBack = await awayWithPathOpen(active!);
    const view = await orch.core.failover("fenced", "momentum"); // its close cannot be sent
    assert.equal(view.from, active!.id);
    const back = comeBack(43300);
    await until("the demoted active's path closed", () =>
      back.state === "registered" && back.processes.get(active!.id)?.ordersEnabled === false
        ? true
        : undefined,
    );
    const now = (await momentum()).find((d) => d.id === active!.id);
    assert.equal(now?.role, "standby");
    assert.equal(gateway.fences.get("acct-1")?.deploymentId, view.to);
  });

  test("a lost active's runner that comes back with its path open has it closed before the stop's grace", async () => {
    const [active] = role(await steady(), "active");
    const comeBack = await awayWithPathOpen(active!);
    await until("the standby promoted and the lost copy retired", async () =>
      (await momentum()).some((d) => d.id === active!.id) ? undefined : true,
    );
    const back = comeBack(43400, 2_000); // a strategy that takes its grace to stop
    await until("its path closed", () =>
      back.state === "registered" && back.processes.get(active!.id)?.ordersEnabled === false
        ? true
        : undefined,
    );
    assert.ok(back.processes.has(active!.id), "closed while the process is still being stopped");
  });
});
