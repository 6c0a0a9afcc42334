/**
 * The orchestrator never renews the lease of a node it has declared down until that node
 * registers again, and closes every order path a heartbeat shows open on a node that is not that
 * path's active: with the real daemon, fake runners over the real protocol and a fake gateway.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { until } from "../core/testing/until.ts";
import { ProcessState } from "../protocol/index.ts";
import { FakeRunner } from "../runner/testing/fake-runner.ts";
import type { DeploymentView } from "./control-plane.ts";
import type { RunningOrchestrator } from "./orchestrator-server.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import { fencedMomentum, startFencedOrchestrator } from "./testing/live-cluster.ts";

describe("heartbeats of a node declared down, and stray open order paths", () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-down-hb-"));
  const gateway = new FakeGateway();
  const runners: FakeRunner[] = [];
  let orch: RunningOrchestrator;

  const runnerOn = (nodeId: string, first: number) => {
    const r = new FakeRunner({
      nodeId,
      pool: "live",
      urls: [orch.runnerUrl],
      portRange: { first, last: first + 49 },
      capacity: { cores: 4, memoryBytes: 8 * 2 ** 30, exclusiveCores: 0 },
      // A stop in its grace, so that a retired active's process outlives its node being down.
      stopDelayMs: 1_500,
      // The stream outlives a freeze of a second (the lease is 200 ms, down after 400 ms).
      silenceTimeoutMs: 2_500,
    });
    runners.push(r);
    r.start();
    return r;
  };
  const of = (nodeId: string | null) => runners.find((r) => r["options"].nodeId === nodeId)!;
  const momentum = async () =>
    (await orch.core.listDeployments({ layout: "fenced" })).filter((d) => d.service === "momentum");
  const steady = () =>
    until(
      "an open active and a running standby",
      async () => {
        const ds = await momentum();
        const a = ds.find((d) => d.role === "active" && d.phase === "running");
        const s = ds.find((d) => d.role === "standby" && d.phase === "running");
        return a && s && of(a.nodeId).processes.get(a.id)?.ordersEnabled ? { a, s } : undefined;
      },
      15_000,
    );
  const health = async (nodeId: string) => (await orch.core.listNodes()).find((n) => n.id === nodeId)?.health;

  before(async () => {
    orch = await startFencedOrchestrator(dir, gateway);
    runnerOn("live-1", 44_000);
    runnerOn("live-2", 44_100);
    runnerOn("live-3", 44_200);
    await orch.core.applyLayout(fencedMomentum(1), "fenced.yaml");
  });

  after(async () => {
    for (const r of runners) await r.close();
    await orch?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("an open path on a node that is not its active's (a standby) is closed at its next heartbeat", async () => {
    const { s } = await steady();
    const standby = of(s.nodeId).processes.get(s.id)!;
    const before = orch.core.reportCounts().strayPathsClosed;
    standby.ordersEnabled = true; // a path its runner opened (or never closed) on its own
    await until("the stray path closed", () => (standby.ordersEnabled ? undefined : true), 5_000);
    assert.ok(orch.core.reportCounts().strayPathsClosed > before);
    assert.equal(standby.state, ProcessState.RUNNING, "the standby itself is left running");
  });

  test("a node declared down: its heartbeats are not acknowledged and its open path is closed, until it registers again", async () => {
    const { a } = await steady();
    const node = a.nodeId!;
    const zombie = of(node);
    zombie.freeze(); // a stalled runner: no heartbeats, messages wait
    await until("the node down", async () => ((await health(node)) === "down" ? true : undefined), 5_000);
    const promoted = await until("the standby promoted and open", async () => {
      const ds = await momentum();
      const n = ds.find((d: DeploymentView) => d.role === "active" && d.id !== a.id && d.phase === "running");
      return n && of(n.nodeId).processes.get(n.id)?.ordersEnabled ? n : undefined;
    });
    assert.notEqual(promoted.nodeId, node);
    const registrations = zombie.registrations;
    zombie.thaw(); // what waited is handled now: the stop (in its grace), acks of old heartbeats
    const acksAtThaw = zombie.heartbeatAcks;
    const sentAtThaw = zombie.heartbeatsSent;
    const old = zombie.processes.get(a.id)!;
    assert.equal(old.state, ProcessState.RUNNING, "the retired active is in its stop's grace");
    // Its heartbeats show the path open: the orchestrator closes it (the node has no active).
    await until("the retired active's path closed", () => (old.ordersEnabled ? undefined : true), 5_000);
    assert.equal(old.state, ProcessState.RUNNING, "closed by the heartbeat rule, not by the stop");
    const withheld = orch.core.reportCounts().withheldAcks;
    await until("several heartbeats since the thaw taken by the orchestrator", () =>
      zombie.heartbeatsSent >= sentAtThaw + 6 && orch.core.reportCounts().withheldAcks >= withheld + 6
        ? true
        : undefined,
    );
    assert.equal(zombie.registrations, registrations, "the stream is the same (no registration yet)");
    assert.equal(zombie.heartbeatAcks, acksAtThaw, "no heartbeat of a down node acknowledged");
    assert.equal(await health(node), "down", "a heartbeat does not make a down node ready");
    // Silence (no acks) makes its link register again; from then on it is acknowledged.
    await until(
      "a registration, then acks again",
      () => {
        if (zombie.registrations === registrations)
          assert.equal(zombie.heartbeatAcks, acksAtThaw, "an ack before the node registered again");
        return zombie.registrations > registrations && zombie.heartbeatAcks > acksAtThaw ? true : undefined;
      },
      10_000,
    );
    assert.equal(await health(node), "ready");
    assert.equal(old.ordersEnabled, false, "the registration did not reopen it");
  });
});
