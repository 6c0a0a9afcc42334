/**
 * A gateway that comes back on a fresh state directory has no fence: every order of the active
 * would be refused `not-fenced` while the orchestrator believes its path open. The orchestrator
 * reads which accounts each gateway fences along with its keys, and fences such an account again,
 * at the active's own epoch; an account fenced to anyone else is left alone.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { until } from "../core/testing/until.ts";
import type { FakeRunner } from "../runner/testing/fake-runner.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import { fencedMomentum, liveFakeRunner, startFencedOrchestrator } from "./testing/live-cluster.ts";

test("a gateway that lost its fence table is fenced again at the active's epoch; an account someone else holds is left alone", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-gw-loss-"));
  const gateway = new FakeGateway();
  const orch = await startFencedOrchestrator(dir, gateway, 0, 100);
  const runners: FakeRunner[] = [
    liveFakeRunner(orch, "live-1", 44000),
    liveFakeRunner(orch, "live-2", 44100),
  ];
  try {
    await until("two runners", () => runners.every((r) => r.state === "registered") || undefined);
    await orch.core.applyLayout(fencedMomentum(0), "fenced.yaml");
    const active = await until("momentum trading", async () => {
      const d = (await orch.core.listDeployments({ layout: "fenced" })).find((x) => x.service === "momentum");
      const process = runners.find((r) => r["options"].nodeId === d?.nodeId)?.processes.get(d?.id ?? "");
      return d && process?.ordersEnabled && gateway.fences.get("acct-1")?.deploymentId === d.id
        ? d
        : undefined;
    });
    const epoch = gateway.fences.get("acct-1")?.epoch;

    gateway.fences.clear(); // the gateway restarted on a fresh state directory
    const again = await until("fenced again", () => gateway.fences.get("acct-1"));
    assert.deepEqual(
      [again.deploymentId, again.epoch],
      [active.id, epoch],
      "the same deployment, at its epoch",
    );

    // Another deployment holds it now (another orchestrator moved it): not taken back.
    gateway.fences.set("acct-1", { ...again, deploymentId: "elsewhere", epoch: String(BigInt(epoch!) + 5n) });
    await new Promise((r) => setTimeout(r, 500)); // five reads of the gateway
    assert.equal(gateway.fences.get("acct-1")?.deploymentId, "elsewhere");
  } finally {
    for (const r of runners) await r.close();
    await orch.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
