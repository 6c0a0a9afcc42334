/**
 * npm run bench:spawn [-- --json] [--count N]
 *
 * Time from a SpawnRequest sent by an orchestrator (the test stub, over the real gRPC stream on
 * loopback) to the runner's SpawnResponse carrying the real addresses, for a small executable
 * (`/bin/sleep`), p50/p99 over N spawns. Side by side in one run:
 *  - `bare spawn`: child_process.spawn to its "spawn" event, no runner (the floor);
 *  - `runner, no cgroups`: the runner with the no-cgroup driver (ports, post office, env, logs);
 *  - `runner, cgroups`: the runner as deployed, each process in its own cgroup with limits;
 * and, when run as root, each runner path twice: with a uid per deployment (the default as root:
 * uid allocation, the command checked for that uid, ipc directory and sockets handed to it,
 * setpriv after the cgroup join) and without (every deployment as the runner), with the ratio
 * (issue 16's target: p50 with uids within 1.2× of without). The two are interleaved in rounds
 * so that a drift of the machine does not favour either.
 * Each spawned process is stopped before the next spawn (not timed).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { silentLogger } from "../src/core/logger.ts";
import { SocketDirection, SocketPattern } from "../src/protocol/index.ts";
import { detectCgroups, NoCgroupDriver, type CgroupDriver } from "../src/runner/cgroups/index.ts";
import { createRunner } from "../src/runner/create-runner.ts";
import { compileRunnerOptions } from "../src/runner/runner-options.ts";
import { runsAsRoot } from "../src/runner/uids/index.ts";
import { FakeOrchestrator } from "../src/runner/testing/fake-orchestrator.ts";
import { msStats } from "./stats.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const countArg = args.indexOf("--count");
const count = countArg >= 0 ? Number(args[countArg + 1]) : 200;

async function bare(): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const child = spawn("/bin/sleep", ["30"], { stdio: "ignore" });
    await once(child, "spawn");
    out.push(performance.now() - t0);
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  return out;
}

const breakdowns: Record<string, Record<string, number>> = {};

async function throughRunner(
  driver: CgroupDriver,
  label: string,
  uids: boolean,
  n = count,
  base = 0,
): Promise<number[]> {
  const stub = await FakeOrchestrator.start({ heartbeatIntervalMs: 1_000 });
  const dirs = [mkdtempSync(join(tmpdir(), "hive-bs-")), mkdtempSync(join(tmpdir(), "hb-"))];
  // The deployments' uids pass through the run and dataset directories (mkdtemp makes 0700).
  for (const d of dirs) chmodSync(d, 0o711);
  const port = 31_000 + (process.pid % 50) * 100;
  const runner = await createRunner(
    compileRunnerOptions({
      nodeId: `bench-${label}`,
      pool: "live",
      orchestrators: [stub.url],
      portRange: { first: port, last: port + 99 },
      stateDir: dirs[0],
      runDir: dirs[1],
      datasets: { dir: join(dirs[1] ?? "", "ds"), budget: "16MiB" },
      stopGraceMs: 500,
    }),
    { cgroups: driver, log: silentLogger(), ...(uids ? {} : { uids: undefined }) },
  );
  await runner.start();
  const session = await stub.waitForRunner(`bench-${label}`);
  const out: number[] = [];
  try {
    for (let i = base; i < base + n; i++) {
      const id = `bench-${i}`;
      const t0 = performance.now();
      session.send({
        case: "spawnRequest",
        value: {
          requestId: `r-${i}`,
          deploymentId: id,
          layout: "bench",
          service: "sleep",
          epoch: 1n,
          command: "/bin/sleep",
          args: ["30"],
          resources: { cores: 0.5, memoryBytes: 64n * 2n ** 20n },
          sockets: [
            { name: "feed", pattern: SocketPattern.PUB, direction: SocketDirection.OFFER },
            { name: "market_data", pattern: SocketPattern.SUB, direction: SocketDirection.CONSUME },
          ],
        },
      });
      const answer = await session.next("spawnResponse", (r) => r.deploymentId === id);
      out.push(performance.now() - t0);
      if (!answer.ok) throw new Error(`spawn failed: ${answer.error?.message}`);
      const b = (breakdowns[label] ??= {});
      for (const [step, ms] of Object.entries(runner.spawnTimings(id) ?? {}))
        b[step] = (b[step] ?? 0) + ms / count;
      if (uids && !runner.process(id)) throw new Error("no process");
      session.send({
        case: "stopRequest",
        value: { requestId: `s-${i}`, deploymentId: id, gracePeriodMs: 200 },
      });
      await session.next("stopResponse", (r) => r.deploymentId === id);
    }
  } finally {
    await runner.close({ stopDeployments: true });
    await stub.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  return out;
}

/**
 * The same path with and without a uid per deployment, interleaved in rounds (a runner each, the
 * runner's start not timed), so both see the same machine; without root, only "without".
 */
async function sideBySide(driver: CgroupDriver, label: string): Promise<Record<string, number[]>> {
  if (!runsAsRoot()) return { without: await throughRunner(driver, label, false) };
  const withUid: number[] = [];
  const without: number[] = [];
  const rounds = 8;
  const per = Math.ceil(count / rounds);
  for (let r = 0; r < rounds; r++) {
    withUid.push(...(await throughRunner(driver, `${label}-uid`, true, per, r * per)));
    without.push(...(await throughRunner(driver, label, false, per, r * per)));
  }
  return { with: withUid, without };
}

const parent = `hive-bench-${process.pid}`;
const real = await detectCgroups({ parent });
// The parent cgroup detection made goes whatever happens: a failed round (the finally below), or
// Ctrl-C / a timeout's SIGTERM at any point of the run (here).
const removeOnSignal = (signal: NodeJS.Signals) =>
  void real.removeParent().finally(() => process.kill(process.pid, signal));
process.once("SIGINT", removeOnSignal);
process.once("SIGTERM", removeOnSignal);
const rows: Record<string, ReturnType<typeof msStats>> = {};
const ratios: {
  path: string;
  "p50 with uid ms": number;
  "p50 without ms": number;
  "with / without": number;
}[] = [];
const addPair = (path: string, pair: Record<string, number[]>) => {
  const without = msStats(pair.without ?? []);
  rows[`${path}, no uids`] = without;
  if (pair.with) {
    const withUid = msStats(pair.with);
    rows[`${path}, uid per deployment`] = withUid;
    ratios.push({
      path,
      "p50 with uid ms": withUid.p50Ms,
      "p50 without ms": without.p50Ms,
      "with / without": Math.round((withUid.p50Ms / without.p50Ms) * 100) / 100,
    });
  }
};
rows["bare spawn"] = msStats(await bare());
addPair(
  "runner, no cgroups",
  await sideBySide(new NoCgroupDriver(["bench: no cgroups on purpose"]), "plain"),
);
if (real.kind !== "none") {
  try {
    addPair(`runner, cgroups ${real.kind}`, await sideBySide(real, "cg"));
  } finally {
    await real.removeParent();
  }
}
const floor = rows["bare spawn"]?.p50Ms ?? 1;
const report = {
  benchmark: "spawn",
  count,
  cgroups: real.describe(),
  results: Object.entries(rows).map(([name, s]) => ({
    name,
    ...s,
    p50VsBare: Math.round((s.p50Ms / floor) * 10) / 10,
  })),
  uidRatios: ratios,
  target: { p99Ms: 50, p50WithUidVsWithout: 1.2 },
};
if (json) console.log(JSON.stringify(report));
else {
  console.log(`spawn request → address answer, ${count} spawns of /bin/sleep each (${real.describe()})`);
  console.table(
    report.results.map((r) => ({
      path: r.name,
      "p50 ms": r.p50Ms,
      "p99 ms": r.p99Ms,
      "max ms": r.maxMs,
      "p50 × bare": r.p50VsBare,
    })),
  );
  console.log("mean ms per step of the runner's spawn:");
  console.table(
    Object.fromEntries(
      Object.entries(breakdowns).map(([k, v]) => [
        k,
        Object.fromEntries(Object.entries(v).map(([s, ms]) => [s, Math.round(ms * 100) / 100])),
      ]),
    ),
  );
  if (ratios.length > 0) {
    console.log("a uid per deployment vs every deployment as the runner (p50):");
    console.table(ratios);
  } else console.log("not root: no uid per deployment to compare");
  console.log("targets: p99 ≤ 50 ms for a small executable (runner, cgroups); p50 with uids ≤ 1.2× without");
}
