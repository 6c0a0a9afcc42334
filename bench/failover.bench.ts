/**
 * npm run bench:failover [-- --json] [--trials N] [--faults kill,freeze,partition] [--period-ms MS]
 *
 * Failover time of a live strategy with a warm standby, on a whole Hive of real processes (the
 * fault tests' cluster, test/faults/failover-kit.ts: gateway, orchestrator, three runners in
 * network namespaces, the order pinger with one standby), at the orchestrator's default timings
 * (heartbeat 150 ms, lease 400 ms, down-after 1,000 ms). N trials of each fault, taking turns:
 *
 *   kill       SIGKILL of the active's runner (restarted after the trial)
 *   freeze     SIGSTOP of the active's runner past its lease and the failover (SIGCONT after)
 *   partition  the active's runner cut from the orchestrator, its gateway link up (healed after)
 *
 * Time = fault → the first order the gateway accepted from the promoted standby (the gateway's
 * audit log, decidedAtMs; the fault time is taken in this process just before the signal or the
 * cut, same clock). Between trials the cluster is made whole again (every runner ready, a new
 * standby running, the active trading). At the end the whole audit log is checked as the fault
 * tests check it: orders accepted from a fenced deployment (must be 0), duplicate executions,
 * epochs going back. Needs root (network namespaces). Target: p99 ≤ 1.5 s per fault, 0 fenced.
 */
import { auditReport, FaultCluster } from "../test/faults/failover-kit.ts";
import { requireNetns } from "../test/faults/lib/index.ts";
import { AuditTail, FAULTS, percentiles, trial, whole, type Fault, type Trial } from "./failover-trials.ts";

interface Args {
  json: boolean;
  trials: number;
  faults: Fault[];
  periodMs: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { json: false, trials: 50, faults: [...FAULTS], periodMs: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") args.json = true;
    else if (a === "--trials") args.trials = Number(argv[++i]);
    else if (a === "--period-ms") args.periodMs = Number(argv[++i]);
    else if (a === "--faults") {
      const names = (argv[++i] ?? "").split(",");
      for (const n of names)
        if (!(FAULTS as readonly string[]).includes(n))
          throw new Error(`--faults: found "${n}", expected some of ${FAULTS.join(",")}`);
      args.faults = names as Fault[];
    } else throw new Error(`unknown argument ${a}; see the comment at the top of bench/failover.bench.ts`);
  }
  if (!Number.isInteger(args.trials) || args.trials < 1) throw new Error("--trials: expected an integer ≥ 1");
  return args;
}

const TARGET_P99_MS = 1_500;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const support = await requireNetns();
  if (!support.ok) throw new Error(`bench:failover needs network namespaces: ${support.why}`);
  const log = (line: string) => {
    if (!args.json) console.log(line);
  };
  const startedAt = Date.now();
  const c = await FaultCluster.start({ runners: 3, periodMs: args.periodMs });
  const trials: Trial[] = [];
  let report: ReturnType<typeof auditReport>;
  try {
    const tail = new AuditTail(c.gatewayState);
    await whole(c, tail);
    log(`cluster up in ${Date.now() - startedAt} ms; ${args.trials} trials of ${args.faults.join(", ")}`);
    for (let i = 0; i < args.trials; i++) {
      for (const fault of args.faults) {
        const t = await trial(c, tail, fault, i);
        trials.push(t);
        log(
          `${fault.padEnd(9)} #${String(i + 1).padStart(3)} ${t.runner.slice(-2)}: ` +
            `fence ${t.toFenceMs ?? "-"} ms, first order ${t.toFirstOrderMs ?? "-"} ms` +
            (t.error === undefined ? "" : `  ERROR ${t.error.split("\n")[0]}`),
        );
      }
    }
    report = auditReport("bench", c.audit(), undefined);
  } finally {
    await c.close();
  }

  const rows = args.faults.map((fault) => {
    const mine = trials.filter((t) => t.fault === fault);
    const ok = mine.flatMap((t) => (t.toFirstOrderMs === null ? [] : [t.toFirstOrderMs]));
    const fence = percentiles(mine.flatMap((t) => (t.toFenceMs === null ? [] : [t.toFenceMs])));
    const first = percentiles(ok);
    return {
      fault,
      trials: mine.length,
      failed: mine.length - ok.length,
      firstOrder: first,
      fence,
      targetMet: mine.length === ok.length && first.p99 <= TARGET_P99_MS,
    };
  });
  const result = {
    benchmark: "failover",
    node: process.version,
    timings: { heartbeatMs: 150, leaseMs: 400, downAfterMs: 1_000 },
    periodMs: args.periodMs,
    trialsPerFault: args.trials,
    wallMs: Date.now() - startedAt,
    results: rows,
    fencedAccepted: report.fencedAccepted,
    acceptedAfterFencedOut: report.acceptedAfterFencedOut,
    duplicateExecutions: report.duplicateExecutions,
    epochRegressions: report.epochRegressions,
    errors: trials.filter((t) => t.error !== undefined).map((t) => `${t.fault}#${t.index + 1}: ${t.error}`),
  };
  if (args.json) {
    console.log(JSON.stringify(result));
  } else {
    console.log("");
    console.log(
      "| fault     | trials | failed | first order p50 | p99      | max      | fence p50 | fence p99 |",
    );
    console.log(
      "| --------- | -----: | -----: | --------------: | -------: | -------: | --------: | --------: |",
    );
    for (const r of rows)
      console.log(
        `| ${r.fault.padEnd(9)} | ${String(r.trials).padStart(6)} | ${String(r.failed).padStart(6)} | ` +
          `${ms(r.firstOrder.p50).padStart(15)} | ${ms(r.firstOrder.p99).padStart(8)} | ${ms(r.firstOrder.max).padStart(8)} | ` +
          `${ms(r.fence.p50).padStart(9)} | ${ms(r.fence.p99).padStart(9)} |`,
      );
    console.log("");
    console.log(
      `fenced orders accepted: ${report.fencedAccepted} (after fenced out: ${report.acceptedAfterFencedOut})`,
    );
    console.log(
      `duplicate executions: ${report.duplicateExecutions}; epochs going back: ${report.epochRegressions}`,
    );
    console.log(
      `target p99 ≤ ${TARGET_P99_MS} ms with 0 fenced accepted: ` +
        (rows.every((r) => r.targetMet) && report.fencedAccepted === 0 ? "met" : "NOT met"),
    );
    console.log(`wall time ${Math.round(result.wallMs / 1000)} s`);
  }
}

function ms(x: number): string {
  return Number.isNaN(x) ? "-" : `${Math.round(x)} ms`;
}

await main();
