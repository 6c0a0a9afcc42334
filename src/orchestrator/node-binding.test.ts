/**
 * Orders bound to the node, as the orchestrator drives it (the real daemon, fake runners over the
 * real protocol, a fake gateway with the gateway's fence rules and node admission): every fence
 * names the CURVE key of the deployment's node; only that node is routed to the gateway (its own
 * socket's port, from the fence's answer), and before its order path opens; a failover fences the
 * standby's node, which drops the old node's admission; a fence naming no node (written before
 * node binding) or a node's old key is written again.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as zmq from "zeromq";
import { until } from "../core/testing/until.ts";
import type { FakeRunner } from "../runner/testing/fake-runner.ts";
import type { DeploymentView } from "./control-plane.ts";
import type { RunningOrchestrator } from "./orchestrator-server.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import {
  fencedMomentum,
  liveFakeRunner,
  PAPER_GATEWAY,
  startFencedOrchestrator,
} from "./testing/live-cluster.ts";

describe("orders bound to the node: the orchestrator's side", () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-nodebind-"));
  const gateway = new FakeGateway();
  const gatewayKey = zmq.curveKeyPair().publicKey;
  const keys = new Map(["live-1", "live-2", "live-3"].map((n) => [n, zmq.curveKeyPair().publicKey]));
  const runners = new Map<string, FakeRunner>();
  let orch: RunningOrchestrator;
  const host = PAPER_GATEWAY.orders.replace(/:\d+$/, "");

  const momentum = async () =>
    (await orch.core.listDeployments({ layout: "fenced" })).filter((d) => d.service === "momentum");
  const openActive = (not?: string) =>
    until(
      "an active whose order path is open, and a running standby",
      async () => {
        const ds = await momentum();
        const a = ds.find((d) => d.role === "active");
        const s = ds.find((d) => d.role === "standby" && d.phase === "running");
        const open = a && runners.get(a.nodeId ?? "")?.processes.get(a.id)?.ordersEnabled;
        return a && s && open && a.id !== not ? { active: a, standby: s } : undefined;
      },
      15_000,
    );
  const route = (d: DeploymentView) => runners.get(d.nodeId ?? "")?.routes.get(`${d.id}/orders`)?.remotes;

  before(async () => {
    orch = await startFencedOrchestrator(dir, gateway, 0, 50, gatewayKey);
    let port = 44_000;
    for (const [nodeId, key] of keys) {
      runners.set(nodeId, liveFakeRunner(orch, nodeId, port, key));
      port += 100;
    }
    await until(
      "three runners",
      () => [...runners.values()].every((r) => r.state === "registered") || undefined,
    );
  });
  after(async () => {
    for (const r of runners.values()) await r.close();
    await orch?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the fence names the active's node key; only that node is routed, to its own socket, before its path opens", async () => {
    await orch.core.applyLayout(fencedMomentum(1), "fenced.yaml");
    const { active, standby } = await openActive();
    const fence = gateway.fences.get("acct-1");
    assert.equal(fence?.deploymentId, active.id);
    assert.equal(fence?.nodeKey, keys.get(active.nodeId ?? ""));
    const port = gateway.nodePorts.get(fence?.nodeKey ?? "");
    assert.deepEqual(route(active), [`${host}:${port}`]);
    assert.deepEqual(
      runners.get(active.nodeId ?? "")?.opened.filter((o) => o.deploymentId === active.id),
      [{ deploymentId: active.id, epoch: BigInt(fence?.epoch ?? "0"), remotes: [`${host}:${port}`] }],
      "the route to its node's socket was there when the path opened",
    );
    await until("the standby's route", () => route(standby));
    assert.deepEqual(route(standby), [], "the standby's node hosts nothing fenced: no route to the gateway");
    assert.deepEqual([...gateway.nodePorts.keys()], [fence?.nodeKey]);
  });

  test("a failover fences the standby's node: it is routed before it opens; the old node is no longer admitted", async () => {
    const before = await openActive();
    await orch.core.failover("fenced", "momentum");
    const after = await openActive(before.active.id);
    assert.equal(after.active.id, before.standby.id);
    const fence = gateway.fences.get("acct-1");
    const newKey = keys.get(after.active.nodeId ?? "");
    assert.equal(fence?.nodeKey, newKey);
    assert.deepEqual([...gateway.nodePorts.keys()], [newKey], "the old node's key is named by no fence");
    const opened = runners
      .get(after.active.nodeId ?? "")
      ?.opened.filter((o) => o.deploymentId === after.active.id);
    assert.deepEqual(
      opened?.map((o) => o.remotes),
      [[`${host}:${gateway.nodePorts.get(newKey ?? "")}`]],
    );
    // The demoted instance's node hosts nothing fenced: its route to the gateway goes.
    const demoted = (await momentum()).find((d) => d.id === before.active.id);
    if (demoted?.phase === "running")
      await until("the old node's route gone", () => route(demoted)?.length === 0);
  });

  test("a fence of the open active naming no node (from before node binding) is written again naming its node", async () => {
    const { active } = await openActive();
    const key = keys.get(active.nodeId ?? "");
    const entry = gateway.fences.get("acct-1");
    assert.ok(entry);
    gateway.fences.set("acct-1", { ...entry, nodeKey: null });
    await until("the fence bound to the node again", () => gateway.fences.get("acct-1")?.nodeKey === key);
    assert.equal(gateway.fences.get("acct-1")?.epoch, entry.epoch, "the same instance, at its epoch");
    assert.equal(gateway.fences.get("acct-1")?.deploymentId, active.id);
    await openActive();
  });
});
