import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ValidationError } from "../domain/index.ts";
import { compileRunnerOptions, readRunnerConfig } from "./runner-options.ts";

const dir = mkdtempSync(join(tmpdir(), "hive-ro-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const minimal = {
  nodeId: "tokyo-3",
  pool: "live",
  orchestrators: ["http://10.0.0.1:7070"],
  portRange: { first: 21000, last: 21099 },
};

test("defaults: per-node state, run and dataset dirs, and a per-node cgroup parent", () => {
  const o = compileRunnerOptions(minimal);
  assert.equal(o.stateDir, "/var/lib/hive/tokyo-3");
  assert.equal(o.runDir, "/run/hive/tokyo-3");
  assert.equal(o.datasetDir, "/dev/shm/hive/tokyo-3/datasets");
  // Two runners on one machine must never share a parent: each kills unknown groups under its own.
  assert.equal(o.cgroupParent, "hive-tokyo-3");
  assert.equal(o.logCapBytes, 10 * 2 ** 20);
  assert.equal(o.advertiseHost, "127.0.0.1");
});

test("the state and run directories are absolute and normalised, however they are spelled", () => {
  const o = compileRunnerOptions({ ...minimal, stateDir: "/var/lib/hive/x/", runDir: "relative/run/../run" });
  assert.equal(o.stateDir, "/var/lib/hive/x");
  assert.equal(o.runDir, join(process.cwd(), "relative/run"));
});

test("the example configs are valid", () => {
  assert.equal(readRunnerConfig("examples/runner/live-1.yaml").pool, "live");
  const data = readRunnerConfig("examples/runner/data-1.yaml");
  assert.equal(data.datasetBudgetBytes, 4 * 2 ** 30);
});

test("the CURVE key file and the self-fencing grace: optional, checked", () => {
  const o = readRunnerConfig("examples/runner/live-1.yaml", { selfFenceKillAfterMs: 1_500 });
  assert.equal(o.curveKeyFile, "/var/lib/hive/dev-live-1/curve.key");
  assert.equal(o.selfFenceKillAfterMs, 1_500);
  const bare = readRunnerConfig("examples/runner/data-1.yaml");
  assert.equal(bare.curveKeyFile, undefined);
  assert.equal(bare.selfFenceKillAfterMs, undefined);
  assert.throws(
    () => readRunnerConfig("examples/runner/data-1.yaml", { selfFenceKillAfterMs: 0 }),
    /selfFenceKillAfterMs/,
  );
});

test("https:// orchestrators and tls go together", () => {
  const live = readRunnerConfig("examples/runner/live-1.yaml");
  assert.deepEqual(live.tls, {
    ca: "/etc/hive/ca.crt",
    cert: "/var/lib/hive/dev-live-1/node.crt",
    key: "/var/lib/hive/dev-live-1/node.key",
  });
  assert.equal(live.joinTokenFile, "/etc/hive/dev-live-1.join-token");
  assert.throws(
    () => readRunnerConfig("examples/runner/live-1.yaml", { orchestrators: ["http://h:1"] }),
    /with tls, every orchestrator URL is https:\/\//,
  );
  assert.throws(
    () => readRunnerConfig("examples/runner/data-1.yaml", { orchestrators: ["https://h:1"] }),
    /https:\/\/ needs tls: \{ ca, cert, key \}/,
  );
});

test("flags override the file", () => {
  const o = readRunnerConfig("examples/runner/live-1.yaml", {
    nodeId: "other",
    orchestrators: ["https://h:1"],
  });
  assert.equal(o.nodeId, "other");
  assert.deepEqual(o.orchestrators, ["https://h:1"]);
});

test("a bad file names the file, line and field", () => {
  const file = join(dir, "bad.yaml");
  writeFileSync(
    file,
    "nodeId: n1\npool: gpu\norchestrators: [not-a-url]\nportRange: { first: 2000, last: 1000 }\n",
  );
  assert.throws(
    () => readRunnerConfig(file),
    (err: unknown) =>
      err instanceof ValidationError &&
      /bad\.yaml:2:\d+: pool: found "gpu", expected one of live, backtest/.test(err.message) &&
      /orchestrators\[0\]/.test(err.message) &&
      /portRange\.last/.test(err.message),
  );
});

test("deployment uids: 20000-29999 by default; never 0, first <= last, below (uid_t)-1", () => {
  assert.deepEqual(compileRunnerOptions(minimal).deploymentUids, { first: 20_000, last: 29_999 });
  assert.deepEqual(
    compileRunnerOptions({ ...minimal, deploymentUids: { first: 5000, last: 5009 } }).deploymentUids,
    { first: 5000, last: 5009 },
  );
  for (const bad of [
    { first: 0, last: 10 },
    { first: 10, last: 9 },
    { first: 1, last: 2 ** 32 - 1 },
    { first: -5, last: 10 },
  ]) {
    assert.throws(() => compileRunnerOptions({ ...minimal, deploymentUids: bad }), JSON.stringify(bad));
  }
});

test("message limits: sizes with units, defaults left to the post office, bad ones named with line and field", () => {
  assert.deepEqual(compileRunnerOptions(minimal).messageLimits, {
    maxOrderBytes: undefined,
    maxMarketDataFrameBytes: undefined,
    maxMarketDataMessageBytes: undefined,
  });
  const o = compileRunnerOptions({
    ...minimal,
    messageLimits: { order: "16KiB", marketDataFrame: "1MiB", marketDataMessage: 4 * 2 ** 20 },
  });
  assert.deepEqual(o.messageLimits, {
    maxOrderBytes: 16 * 1024,
    maxMarketDataFrameBytes: 2 ** 20,
    maxMarketDataMessageBytes: 4 * 2 ** 20,
  });
  const file = join(dir, "limits.yaml");
  writeFileSync(
    file,
    [
      "nodeId: n1",
      "pool: live",
      "orchestrators: [http://127.0.0.1:7070]",
      "portRange: { first: 21000, last: 21099 }",
      "messageLimits: { order: 1KiB, marketDataFrame: 2MiB, marketDataMessage: 1MiB, other: 1 }",
    ].join("\n"),
  );
  assert.throws(
    () => readRunnerConfig(file),
    (err: unknown) =>
      err instanceof ValidationError &&
      /limits\.yaml:5:\d+: messageLimits\.order: .*at least 4096 bytes/.test(err.message) &&
      /messageLimits/.test(err.message) &&
      /other/.test(err.message),
  );
  writeFileSync(file, readFileSync(file, "utf8").replace("order: 1KiB, ", "").replace(", other: 1", ""));
  assert.throws(
    () => readRunnerConfig(file),
    (err: unknown) =>
      err instanceof ValidationError &&
      /messageLimits\.marketDataMessage: .*at least marketDataFrame/.test(err.message),
  );
});
