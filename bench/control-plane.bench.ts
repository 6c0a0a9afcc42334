/**
 * npm run bench:control-plane [-- --json] [--runners N] [--seconds S] [--repeats R] [--parts apply,heartbeats,tls] [--fleets F] [--lockstep] [--tls-runners M] [--tls-rounds K]
 *
 * The control plane end to end, on loopback, in two parts, each side by side with a reference:
 *  1. apply-to-running of a 20-service layout (4 feeders and 8 strategies wired to them on two
 *     live runners, 8 backtests on a data runner) on a real orchestrator with its embedded store
 *     and three real runners (bench/control-plane-apply.ts): from the POST to the first poll
 *     (every 10 ms) that sees `state: running`, R times; beside it, the same 20 commands spawned
 *     directly with child_process until each has started (the floor, no control plane);
 *  2. one orchestrator (a child process, in-memory store) holding N mock runners that heartbeat
 *     4 times a second (bench/control-plane-heartbeats.ts): its CPU and memory from /proc, the
 *     heartbeats it received against those sent, and the heartbeat-to-registry lag from its own
 *     histogram, over S seconds; first at N/4 runners, then at N, to show how it scales;
 *  3. the cost of mutual TLS on the runner link: part 2 at M runners (default 500, well within
 *     what the machine delivers at the full rate, so that CPU per heartbeat is not blurred by a
 *     backlog), cleartext and TLS back to back, K rounds alternating (default 2), each on a fresh
 *     orchestrator, registrations ramped at 100/s; the orchestrator's CPU per heartbeat side by
 *     side and their ratio (target ≤ 1.3×), the fleets' (the runners' side) beside it.
 * Every process, cgroup and temporary directory is removed at the end, on failure and Ctrl-C too.
 */
import { createServer } from "node:net";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { applySummary, benchApply, POLL_MS, type ApplyFigures } from "./control-plane-apply.ts";
import {
  benchHeartbeats,
  DEFAULT_FLEETS,
  HEARTBEAT_MS,
  RAMP,
  SETTLE_MS,
  type HeartbeatFigures,
} from "./control-plane-heartbeats.ts";
import { clockTicks, round } from "./control-plane-measure.ts";

/** The share of due heartbeats that must arrive for a run to count as at the full rate. */
const FULL_RATE = 0.95;
const TARGETS = {
  applyToRunningMs: 1_000,
  orchestratorCores: 1,
  lagP99Ms: 50,
  atRunners: 2_000,
  tlsCpuPerHeartbeatRatio: 1.3,
} as const;

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    runners: { type: "string", default: "2000" },
    seconds: { type: "string", default: "20" },
    repeats: { type: "string", default: "5" },
    parts: { type: "string", default: "apply,heartbeats,tls" },
    "tls-runners": { type: "string", default: "500" },
    "tls-rounds": { type: "string", default: "2" },
    fleets: { type: "string", default: String(DEFAULT_FLEETS) },
    // Every batch of registrations at once, so heartbeats come in step (a herd): the worst case.
    lockstep: { type: "boolean", default: false },
  },
});
const runners = Number(values.runners);
const seconds = Number(values.seconds);
const fleets = Number(values.fleets);
const repeats = Number(values.repeats);
const parts = new Set(values.parts.split(","));
const tlsRunners = Number(values["tls-runners"]);
const tlsRounds = Number(values["tls-rounds"]);
for (const [flag, v, max] of [
  ["--tls-runners", tlsRunners, 20_000],
  ["--tls-rounds", tlsRounds, 20],
  ["--runners", runners, 20_000],
  ["--seconds", seconds, 600],
  ["--fleets", fleets, 16],
  ["--repeats", repeats, 100],
] as const) {
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new Error(`${flag}: found ${v}, expected a whole number from 1 to ${max}`);
}
for (const p of parts)
  if (p !== "apply" && p !== "heartbeats" && p !== "tls")
    throw new Error(`--parts: found "${p}", expected apply, heartbeats and/or tls`);

/** A free port on loopback, from the kernel. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => server.once("error", fail).listen(0, "127.0.0.1", ok));
  const address = server.address();
  await new Promise((ok) => server.close(ok));
  if (address === null || typeof address === "string") throw new Error("no free port on 127.0.0.1");
  return address.port;
}

// Ctrl-C or SIGTERM aborts the current wait; the parts' finally blocks then stop everything.
const stop = new AbortController();
for (const s of ["SIGINT", "SIGTERM"] as const)
  process.once(s, () => stop.abort(new Error(`${s}: stopping the benchmark and cleaning up`)));
const progress = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

const ticks = clockTicks();
const errors: string[] = [];
/** Runs one part; a failure is reported and the next part still runs (each cleans up after itself). */
async function part<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  if (!parts.has(name) || stop.signal.aborted) return undefined;
  try {
    return await run();
  } catch (err) {
    const message = `${name}: ${err instanceof Error ? err.message : String(err)}`;
    errors.push(message);
    process.stderr.write(`bench:control-plane: ${message}\n`);
    process.exitCode = 1;
    return undefined;
  }
}

const apply: ApplyFigures | undefined = await part("apply", async () =>
  benchApply({
    repeats,
    runnerPort: await freePort(),
    httpPort: await freePort(),
    signal: stop.signal,
    progress,
  }),
);
const heartbeatRuns: HeartbeatFigures[] = [];
// N/4 first, then N: the same measurement side by side, so the table shows how it scales.
for (const n of [...new Set([Math.max(1, Math.round(runners / 4)), runners])]) {
  const run = await part("heartbeats", async () =>
    benchHeartbeats({
      runners: n,
      seconds,
      fleets,
      lockstep: values.lockstep,
      runnerPort: await freePort(),
      httpPort: await freePort(),
      clkTck: ticks.perSec,
      signal: stop.signal,
      progress,
    }),
  );
  if (run) heartbeatRuns.push(run);
}

// Part 3: cleartext and mutual TLS at the same size, alternating, each on a fresh orchestrator.
// A slower ramp than part 2's, the same for both: a TLS registration costs a handshake at each end
// (about 6 ms more CPU than a cleartext one, more under load), and at 400 new connections a second
// on a small, busy machine the runners' 3 s registration deadline expires before the handshakes
// are done, so they dial again and none gets in (see docs/runner-identity.md, reconnection storms).
const TLS_RAMP = { batch: 50, everyMs: 500 } as const;
const tlsRuns: HeartbeatFigures[] = [];
for (let round = 0; round < tlsRounds; round++) {
  for (const tls of [false, true]) {
    const run = await part("tls", async () =>
      benchHeartbeats({
        runners: tlsRunners,
        seconds,
        fleets,
        lockstep: values.lockstep,
        tls,
        ramp: TLS_RAMP,
        runnerPort: await freePort(),
        httpPort: await freePort(),
        clkTck: ticks.perSec,
        signal: stop.signal,
        progress,
      }),
    );
    if (run) tlsRuns.push(run);
  }
}
/** CPU µs per heartbeat over all rounds of one kind: total CPU over total heartbeats. */
const perHeartbeat = (runs: HeartbeatFigures[], side: "orchestrator" | "fleets") => {
  const cpu = runs.reduce(
    (a, r) => a + (side === "orchestrator" ? r.orchestrator.cpuCores : r.bench.cpuCores) * r.seconds,
    0,
  );
  const beats = runs.reduce((a, r) => a + r.heartbeats.received, 0);
  return beats === 0 ? undefined : round((cpu * 1e6) / beats);
};
const clear = tlsRuns.filter((r) => !r.tls);
const secured = tlsRuns.filter((r) => r.tls);
const tlsCost =
  clear.length > 0 && secured.length > 0
    ? (() => {
        const o = {
          clear: perHeartbeat(clear, "orchestrator") ?? 0,
          tls: perHeartbeat(secured, "orchestrator") ?? 0,
        };
        const f = { clear: perHeartbeat(clear, "fleets") ?? 0, tls: perHeartbeat(secured, "fleets") ?? 0 };
        return {
          runners: tlsRunners,
          rounds: tlsRounds,
          orchestratorUsPerHeartbeat: { ...o, ratio: round(o.tls / Math.max(1e-9, o.clear), 2) },
          fleetsUsPerHeartbeat: { ...f, ratio: round(f.tls / Math.max(1e-9, f.clear), 2) },
          runs: tlsRuns,
        };
      })()
    : undefined;

/** The orchestrator's cores for the CPU target: measured at the full rate, else extrapolated to it. */
const orchestratorCores = (f: HeartbeatFigures) =>
  f.deliveredFraction >= FULL_RATE ? f.orchestrator.cpuCores : f.fullRateCores;

const applySummed = apply && applySummary(apply);
const small = heartbeatRuns[0];
const large = heartbeatRuns[heartbeatRuns.length - 1];
const atTarget = large && large.runners >= TARGETS.atRunners ? large : undefined;
const report = {
  benchmark: "control-plane",
  node: process.version,
  cores: cpus().length,
  clockTicksPerSec: ticks.perSec,
  clockTicksAssumed: ticks.assumed,
  targets: TARGETS,
  errors,
  apply: apply && applySummed && { ...apply, summary: applySummed },
  heartbeats: large && {
    heartbeatMs: HEARTBEAT_MS,
    ramp: RAMP,
    settleMs: SETTLE_MS,
    lagQuantiles:
      "linear interpolation within the buckets of hive_heartbeat_lag_seconds, delta over the window",
    runs: heartbeatRuns,
    scaling:
      small && small !== large
        ? {
            runners: round(large.runners / small.runners, 2),
            cpuCores: round(large.orchestrator.cpuCores / small.orchestrator.cpuCores, 2),
            cpuPerHeartbeat: round(large.cpuUsPerHeartbeat / small.cpuUsPerHeartbeat, 2),
          }
        : undefined,
  },
  met: {
    applyToRunning: applySummed ? applySummed.controlPlane.max <= TARGETS.applyToRunningMs : undefined,
    /** Whether the senders delivered at least 95% of the heartbeats due at the target size. */
    fullRateDelivered: atTarget ? atTarget.deliveredFraction >= FULL_RATE : undefined,
    /** Measured when the full rate was delivered; else on the extrapolation to the full rate. */
    orchestratorUnderOneCore: atTarget ? orchestratorCores(atTarget) < TARGETS.orchestratorCores : undefined,
    lagP99: atTarget ? !atTarget.lag.overflow && atTarget.lag.p99Ms <= TARGETS.lagP99Ms : undefined,
    allRunnersHeld: atTarget ? atTarget.nodes.ready === atTarget.runners : undefined,
    tlsHeartbeatCost: tlsCost
      ? tlsCost.orchestratorUsPerHeartbeat.ratio <= TARGETS.tlsCpuPerHeartbeatRatio
      : undefined,
  },
  tls: tlsCost,
};

const verdict = (met: boolean | undefined) => (met === undefined ? "not measured" : met ? "met" : "NOT met");

if (values.json) {
  console.log(JSON.stringify(report));
} else {
  console.log(`control plane, ${process.version}, ${cpus().length} cores (shared with other work)`);
  if (apply && applySummed) {
    const s = applySummed;
    console.log(
      `\n1. apply-to-running: ${apply.services} services on ${apply.runners.join(", ")}; ` +
        `${apply.repeats} repeats after a cold apply of ${apply.coldMs} ms; layout polled every ${POLL_MS} ms`,
    );
    const row = (path: string, x: { p50: number; max: number }) => ({
      path,
      "p50 ms": x.p50,
      "max ms": x.max,
      "p50 × baseline": round(x.p50 / s.baseline.p50),
    });
    console.table([
      row("control plane: POST → layout running", s.controlPlane),
      row("  of which POST answered (validated, placed, stored)", s.postAnswered),
      row("  of which every deployment running (routes not yet acked)", s.allDeploymentsRunning),
      row("baseline: child_process.spawn × 20 → all 'spawn'", s.baseline),
    ]);
    console.log(
      `DELETE → layout gone: p50 ${s.stop.p50} ms, max ${s.stop.max} ms; ${apply.afterHold.holdMs} ms after ` +
        `running: ${apply.afterHold.restarts} restarts, ${apply.afterHold.notRunning.length} deployments not running` +
        (apply.afterHold.notRunning.length > 0 ? ` (${apply.afterHold.notRunning.join(", ")})` : ""),
    );
  }
  if (large) {
    console.log(
      `\n2. heartbeats: mock runners in ${fleets} fleet processes, heartbeat every ${HEARTBEAT_MS} ms, ramped ` +
        `${RAMP.batch} per ${RAMP.everyMs} ms${values.lockstep ? " (each batch at once: heartbeats in step)" : " (spread evenly)"}, ${SETTLE_MS / 1000} s settle, then a ${seconds} s window; ` +
        `CPU from /proc at ${ticks.perSec} ticks/s${ticks.assumed ? " (assumed)" : " (getconf CLK_TCK)"}; ` +
        "lag quantiles interpolated within the histogram's buckets",
    );
    const columns = (f: HeartbeatFigures) => ({
      "orchestrator CPU, cores": f.orchestrator.cpuCores,
      "orchestrator CPU µs / heartbeat": f.cpuUsPerHeartbeat,
      "orchestrator RSS MiB (peak)": `${f.orchestrator.rssMiB} (${f.orchestrator.peakRssMiB})`,
      "orchestrator event-loop delay p99 / max ms": `${f.orchestrator.loopDelayP99Ms} / ${f.orchestrator.loopDelayMaxMs}`,
      "heartbeats due / sent / received": `${f.heartbeats.due} / ${f.heartbeats.sent} / ${f.heartbeats.received}`,
      "heartbeats received /s": f.heartbeats.receivedPerSec,
      "delivered (received ÷ due)": f.deliveredFraction,
      "orchestrator cores at the full rate (extrapolated)": f.fullRateCores,
      "lag p50 ms": f.lag.p50Ms,
      "lag p99 ms": `${f.lag.overflow ? "> " : ""}${f.lag.p99Ms}`,
      "nodes ready / suspect / down at the end": `${f.nodes.ready} / ${f.nodes.suspect} / ${f.nodes.down}`,
      "all registered in, s": f.registerSeconds,
      "mock fleets' CPU, cores (all fleets)": f.bench.cpuCores,
      "fleet event-loop delay p99 / max ms (worst fleet)": `${f.bench.loopDelayP99Ms} / ${f.bench.loopDelayMaxMs}`,
      "machine busy, cores (everything)": f.machineBusyCores,
    });
    const table: Record<string, Record<string, string | number>> = {};
    for (const f of heartbeatRuns) {
      for (const [k, v] of Object.entries(columns(f))) (table[k] ??= {})[`${f.runners} runners`] = v;
    }
    if (report.heartbeats?.scaling) {
      const sc = report.heartbeats.scaling;
      const ratio = `${large.runners} ÷ ${small?.runners}`;
      (table["orchestrator CPU, cores"] ?? {})[ratio] = `${sc.cpuCores}×`;
      (table["orchestrator CPU µs / heartbeat"] ?? {})[ratio] = `${sc.cpuPerHeartbeat}×`;
    }
    console.table(table);
  }
  if (tlsCost) {
    console.log(
      `\n3. mutual TLS on the runner link: ${tlsCost.runners} mock runners, cleartext and TLS alternating, ` +
        `${tlsCost.rounds} round(s) of each, each on a fresh orchestrator, a ${seconds} s window each`,
    );
    const rows: Record<string, Record<string, string | number>> = {};
    for (const [i, r] of tlsCost.runs.entries()) {
      rows[`round ${Math.floor(i / 2) + 1}, ${r.tls ? "TLS" : "cleartext"}`] = {
        "orchestrator CPU µs / heartbeat": r.cpuUsPerHeartbeat,
        "orchestrator CPU, cores": r.orchestrator.cpuCores,
        "fleets' CPU µs / heartbeat": round(
          (r.bench.cpuCores * r.seconds * 1e6) / Math.max(1, r.heartbeats.received),
        ),
        "delivered (received ÷ due)": r.deliveredFraction,
        "lag p99 ms": `${r.lag.overflow ? "> " : ""}${r.lag.p99Ms}`,
        "orchestrator RSS MiB": r.orchestrator.rssMiB,
      };
    }
    const o = tlsCost.orchestratorUsPerHeartbeat;
    const f = tlsCost.fleetsUsPerHeartbeat;
    rows["all rounds: TLS ÷ cleartext"] = {
      "orchestrator CPU µs / heartbeat": `${o.tls} ÷ ${o.clear} = ${o.ratio}×`,
      "fleets' CPU µs / heartbeat": `${f.tls} ÷ ${f.clear} = ${f.ratio}×`,
    };
    console.table(rows);
  }
  console.log("\ntargets:");
  console.log(
    `  apply-to-running ≤ ${TARGETS.applyToRunningMs} ms (every repeat): ${verdict(report.met.applyToRunning)}` +
      (applySummed ? ` (max ${applySummed.controlPlane.max} ms)` : ""),
  );
  if (atTarget) {
    const shortfall = atTarget.deliveredFraction < FULL_RATE;
    console.log(
      `  ${TARGETS.atRunners} runners held with < ${TARGETS.orchestratorCores} core: ` +
        `${verdict(report.met.orchestratorUnderOneCore)} (${orchestratorCores(atTarget)} cores` +
        (shortfall
          ? `, extrapolated: only ${Math.round(atTarget.deliveredFraction * 100)}% of the due heartbeats ` +
            `arrived, ${atTarget.orchestrator.cpuCores} cores measured)`
          : ")") +
        `; all ready at the end: ${verdict(report.met.allRunnersHeld)}`,
    );
    console.log(
      `  heartbeat lag p99 ≤ ${TARGETS.lagP99Ms} ms at ${TARGETS.atRunners} runners: ` +
        `${verdict(report.met.lagP99)} (${atTarget.lag.overflow ? "> " : ""}${atTarget.lag.p99Ms} ms` +
        (atTarget.bench.loopDelayP99Ms > TARGETS.lagP99Ms / 5
          ? `; the senders' own event-loop delay p99 was ${atTarget.bench.loopDelayP99Ms} ms, and the ` +
            "lag includes it: a message stamped but not yet written waits for that loop)"
          : ")"),
    );
  } else {
    console.log(`  ${TARGETS.atRunners} runners: not measured`);
  }
  console.log(
    `  heartbeat CPU with TLS ≤ ${TARGETS.tlsCpuPerHeartbeatRatio}× cleartext (orchestrator): ` +
      `${verdict(report.met.tlsHeartbeatCost)}` +
      (tlsCost ? ` (${tlsCost.orchestratorUsPerHeartbeat.ratio}×)` : ""),
  );
}
if (errors.length > 0 && !values.json) console.log(`\nfailed:\n  ${errors.join("\n  ")}`);
if (stop.signal.aborted) process.exitCode = 130;
