/**
 * The runner as an operator starts it: the `trading-runner` command with a config file, as its
 * own process, registering with an orchestrator (the stub) and stopping cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Pool } from "../src/protocol/index.ts";
import { FakeOrchestrator } from "../src/runner/testing/fake-orchestrator.ts";

const dir = mkdtempSync(join(tmpdir(), "hive-rp-"));
// mkdtemp makes it 0700: as root, the deployments' uids pass through it to the run and dataset directories.
chmodSync(dir, 0o711);
after(() => rmSync(dir, { recursive: true, force: true }));

test("trading-runner --config registers with the orchestrator and stops on SIGTERM", async () => {
  if (process.getuid?.() !== 0) {
    if (process.env.CI === "true")
      assert.fail("CI=true: this test needs root (the runner writes /run and cgroups)");
    return;
  }
  const stub = await FakeOrchestrator.start();
  const first = 32_000 + (process.pid % 50) * 20;
  const config = join(dir, "runner.yaml");
  writeFileSync(
    config,
    [
      "nodeId: cli-runner-1",
      "pool: live",
      "tags: [live_node]",
      `orchestrators: [${stub.url}]`,
      `portRange: { first: ${first}, last: ${first + 9} }`,
      `stateDir: ${join(dir, "state")}`,
      `runDir: ${join(dir, "run")}`,
      `datasets: { dir: ${join(dir, "datasets")}, budget: 16MiB }`,
    ].join("\n"),
  );
  const child = spawn(process.execPath, ["bin/trading-runner.cjs", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, HIVE_LOG_LEVEL: "warn" },
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    const session = await stub.waitForRunner("cli-runner-1", undefined, 20_000);
    assert.equal(session.register.pool, Pool.LIVE);
    await session.next("heartbeat");
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 0, stderr);
    assert.match(stderr, /runner cli-runner-1: SIGTERM, closing/);
    // Nothing ran, so its cgroup parent is gone again.
    assert.deepEqual(
      ["cpu", "memory", "cpuset", "pids"].filter((c) => existsSync(`/sys/fs/cgroup/${c}/hive-cli-runner-1`)),
      [],
    );
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await stub.close();
  }
});

test("a second SIGTERM during the runner's close does not cut the close short", async () => {
  if (process.getuid?.() !== 0) {
    if (process.env.CI === "true") assert.fail("CI=true: this test needs root");
    return;
  }
  const stub = await FakeOrchestrator.start();
  const first = 32_500 + (process.pid % 50) * 10;
  const config = join(dir, "runner-2.yaml");
  writeFileSync(
    config,
    [
      "nodeId: cli-runner-2",
      "pool: live",
      `orchestrators: [${stub.url}]`,
      `portRange: { first: ${first}, last: ${first + 9} }`,
      `stateDir: ${join(dir, "state-2")}`,
      `runDir: ${join(dir, "run-2")}`,
      `datasets: { dir: ${join(dir, "datasets-2")}, budget: 16MiB }`,
    ].join("\n"),
  );
  const child = spawn(process.execPath, ["bin/trading-runner.cjs", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, HIVE_LOG_LEVEL: "warn" },
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    await stub.waitForRunner("cli-runner-2", undefined, 20_000);
    child.kill("SIGTERM");
    // The second one arrives while the close runs (the first has been handled).
    while (!/closing/.test(stderr)) await new Promise((r) => setTimeout(r, 1));
    child.kill("SIGTERM");
    const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
    assert.deepEqual([code, signal], [0, null], stderr);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await stub.close();
  }
});
