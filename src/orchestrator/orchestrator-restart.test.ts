/**
 * An orchestrator restart while a node is gone for good: the node never registers again, so it
 * never turns `down`; its work must not wait for it forever.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { silentLogger } from "../core/logger.ts";
import { FakeRunner } from "../runner/testing/fake-runner.ts";
import { compileOrchestratorOptions } from "./orchestrator-options.ts";
import { startOrchestrator, type RunningOrchestrator } from "./orchestrator-server.ts";
import { until } from "../core/testing/until.ts";

const dir = mkdtempSync(join(tmpdir(), "hive-orch-restart-"));
const runners: FakeRunner[] = [];
let orch: RunningOrchestrator | undefined;
after(async () => {
  for (const r of runners) await r.close();
  await orch?.close();
  rmSync(dir, { recursive: true, force: true });
});

const options = (port: number) =>
  compileOrchestratorOptions({
    store: `sqlite:${join(dir, "o.db")}`,
    runnerListen: { host: "127.0.0.1", port },
    heartbeatIntervalMs: 50,
    runnerLeaseMs: 200,
    downAfterMs: 400,
    restartGraceMs: 600,
  });

const layout = `name: long
services:
  - name: replay
    kind: backtest
    pool: backtest
    command: /bin/sleep
    args: ["600"]
    resources: { cores: 1, memory: 64MiB }
`;

test("after a restart, work on a node that never comes back is placed again", async () => {
  orch = await startOrchestrator(options(0), { log: silentLogger() });
  const port = Number(new URL(orch.runnerUrl).port);
  for (const [i, id] of ["d1", "d2"].entries()) {
    const r = new FakeRunner({
      nodeId: id,
      pool: "backtest",
      urls: [orch.runnerUrl],
      portRange: { first: 44000 + i * 100, last: 44099 + i * 100 },
    });
    runners.push(r);
    r.start();
  }
  await until("two nodes", async () => ((await orch!.core.listNodes()).length === 2 ? true : undefined));
  await orch.core.applyLayout(layout, "long.yaml");
  const first = await until("running", async () =>
    (await orch!.core.listDeployments()).find((d) => d.phase === "running"),
  );
  await orch.close();
  // The node of the backtest is gone for good; the other comes back to the new orchestrator.
  await runners.find((r) => r["options"].nodeId === first.nodeId)!.close();
  orch = await startOrchestrator(options(port), { log: silentLogger() });
  const moved = await until("placed again and running", async () =>
    (await orch!.core.listDeployments()).find(
      (d) => d.id === first.id && d.phase === "running" && d.nodeId !== first.nodeId,
    ),
  );
  assert.equal(moved.restarts, 0);
  assert.match(moved.nodeId ?? "", /^d[12]$/);
});
