import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { DevCluster } from "../../dev/dev-cluster.ts";
import type { DeploymentView, LayoutView } from "../../orchestrator/control-plane.ts";
import { ExitCode } from "../exit-codes.ts";
import { runAsDaemon, type CliIo } from "../io.ts";
import { formatTable } from "../table.ts";
import { parseSeconds } from "./apply.ts";
import { parseListen } from "./orchestrator.ts";

/**
 * `hive dev`: The Hive on this machine. Starts an orchestrator with the embedded store and three
 * runners (two on the live pool, one on the backtest pool) as separate processes, applies the
 * demo layouts, shows what runs where and how to look at it, and stops everything on Ctrl-C.
 */
export function registerDev(program: Command, io: CliIo): void {
  program
    .command("dev")
    .description("run The Hive on this machine: orchestrator, runners and the demo layouts")
    .option("--dir <dir>", "state, store and logs (wiped at start)", ".hive/dev")
    .option("--layouts <dir>", "layouts to apply", "examples/layouts")
    .option("--runner-port <port>", "runner protocol port", "7070")
    .option("--http-port <port>", "HTTP API port", "7071")
    .option("--timeout <s>", "how long to wait for the layouts to run", "90")
    .option("--exit-when-running", "stop everything and exit 0 once the layouts run (smoke test)")
    .action(
      async (opts: {
        dir: string;
        layouts: string;
        runnerPort: string;
        httpPort: string;
        timeout: string;
        exitWhenRunning?: boolean;
      }) => {
        runAsDaemon();
        const timeoutS = parseSeconds(opts.timeout);
        const cluster = new DevCluster({
          dir: opts.dir,
          runnerPort: parseListen("--runner-port", `127.0.0.1:${opts.runnerPort}`).port,
          httpPort: parseListen("--http-port", `127.0.0.1:${opts.httpPort}`).port,
        });
        let failed: string | undefined;
        const stop = new AbortController();
        cluster.onChildExit = (name, code, log) => {
          failed = `${name} exited (code ${code}); see ${log}`;
          stop.abort();
        };
        // First signal: a clean stop. Repeats within 2 s are ignored (a terminal or `timeout` may
        // deliver one signal twice: to hive dev and to its process group); a later one forces.
        let firstSignalAt = 0;
        const onSignal = () => {
          if (firstSignalAt === 0) {
            firstSignalAt = Date.now();
            stop.abort();
          } else if (Date.now() - firstSignalAt > 2_000) {
            io.err("hive dev: forced stop: killing every process now");
            // Exits whether or not every kill succeeded: a forced stop must end hive dev.
            void cluster.kill().finally(() => process.exit(ExitCode.Failed));
          }
        };
        // SIGHUP: the terminal was closed; the cluster must not run on without its hive dev.
        const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
        for (const s of signals) process.on(s, onSignal);
        try {
          io.out(`hive dev: starting the gateway, an orchestrator and 3 runners (logs in ${opts.dir}/logs)`);
          await cluster.start();
          // A Ctrl-C while it starts stops it there: nothing is applied after it.
          await cluster.waitReady(30_000, stop.signal);
          // The CLI's way in: a "dev" context with the admin token, so `hive status` just works.
          const context = stop.signal.aborted ? undefined : cluster.writeContext("dev");
          if (context) {
            io.out(
              context.current
                ? `context "dev" (current) in ${context.path}; the admin API token is in ${cluster.adminTokenFile}`
                : `context "dev" in ${context.path} (your current context stays ${context.currentContext}: add --context dev); the admin API token is in ${cluster.adminTokenFile}`,
            );
          }
          const contextFlag = context?.current === false ? " --context dev" : "";
          const files = readdirSync(opts.layouts)
            .filter((f) => f.endsWith(".yaml"))
            .sort();
          for (const file of files) {
            if (stop.signal.aborted) break;
            const path = join(opts.layouts, file);
            const res = await fetch(`${cluster.apiUrl}/v1/layouts`, {
              method: "POST",
              headers: { "content-type": "application/json", ...cluster.authHeaders() },
              body: JSON.stringify({ source: readFileSync(path, "utf8"), file: path }),
            });
            const body = (await res.json()) as {
              layout?: string;
              added?: string[];
              error?: { message: string };
            };
            if (!res.ok) {
              throw new HiveError(
                ErrorCode.FailedPrecondition,
                `${path}: ${body.error?.message ?? res.statusText}`,
              );
            }
            io.out(`applied ${path}: ${body.layout} (${body.added?.join(", ")})`);
          }
          if (!stop.signal.aborted) {
            const layouts = await waitRunning(cluster, timeoutS * 1000, stop.signal, io);
            printWhereWhat(layouts, io, cluster.apiUrl, contextFlag, cluster.adminTokenFile);
          }
          if (!opts.exitWhenRunning && !stop.signal.aborted) {
            io.out("\nCtrl-C stops everything.");
            await new Promise<void>((resolve) =>
              stop.signal.addEventListener("abort", () => resolve(), { once: true }),
            );
          }
        } catch (err) {
          failed ??= err instanceof Error ? err.message : String(err);
        } finally {
          if (cluster.launched) {
            io.out(
              "hive dev: stopping the layouts, the runners, the orchestrator and the gateway... (Ctrl-C again to force)",
            );
          }
          await cluster.close();
          for (const s of signals) process.off(s, onSignal);
        }
        if (failed) {
          io.err(`error: ${failed}`);
          io.exit(ExitCode.Failed);
        } else {
          io.out("hive dev: stopped cleanly.");
          io.exit(ExitCode.Ok);
        }
      },
    );
}

async function waitRunning(
  cluster: DevCluster,
  timeoutMs: number,
  signal: AbortSignal,
  io: CliIo,
): Promise<LayoutView[]> {
  const end = Date.now() + timeoutMs;
  const seen = new Map<string, string>();
  for (;;) {
    const res = await fetch(`${cluster.apiUrl}/v1/layouts`, { headers: cluster.authHeaders() });
    const layouts = (await res.json()) as LayoutView[];
    for (const d of layouts.flatMap((l) => l.deployments)) {
      if (seen.get(d.id) !== d.phase) {
        seen.set(d.id, d.phase);
        io.out(`  ${d.id.padEnd(40)} ${d.phase.padEnd(9)} ${d.nodeId ?? d.pendingReason ?? ""}`);
      }
    }
    // A backtest that finished counts as done.
    if (layouts.every((l) => l.state === "running" || l.state === "completed")) return layouts;
    if (signal.aborted) return layouts;
    if (Date.now() > end) {
      const stuck = layouts
        .flatMap((l) => l.deployments)
        .filter((d) => d.phase !== "running" && d.phase !== "exited");
      throw new HiveError(
        ErrorCode.Unavailable,
        `not running after ${timeoutMs / 1000} s: ${stuck.map((d) => `${d.id} ${d.phase} ${d.pendingReason ?? d.lastExit?.reason ?? ""}`).join("; ")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function printWhereWhat(
  layouts: readonly LayoutView[],
  io: CliIo,
  api: string,
  contextFlag: string,
  tokenFile: string,
): void {
  const rows = layouts.flatMap((l) =>
    l.deployments.map((d: DeploymentView) => [
      d.id,
      d.role,
      d.nodeId ?? "-",
      d.phase,
      Object.entries(d.addresses)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ") || "-",
    ]),
  );
  io.out(`\n${formatTable(["deployment", "role", "node", "phase", "offers"], rows)}`);
  const momentum = layouts
    .flatMap((l) => l.deployments)
    .find((d) => d.service === "momentum" && d.role === "active");
  io.out(`\nLook at it (${api}, as the admin of the dev context):`);
  const hive = (args: string) => `npm run hive -- ${args}${contextFlag}`;
  io.out(`  ${hive("status").padEnd(38)} layouts and their deployments`);
  io.out(`  ${hive("nodes").padEnd(38)} the runners, their load and hot datasets`);
  if (momentum) io.out(`  ${hive(`logs ${momentum.id} -f`)}   the strategy's orders and fills`);
  io.out(`  ${hive("accounts").padEnd(38)} who may trade paper-001 (deployment, epoch), positions`);
  io.out(`  ${hive("failover momentum").padEnd(38)} fence the gateway to the standby, then let it trade`);
  io.out(`  ${hive("kill paper-001").padEnd(38)} the kill switch (--lift to undo)`);
  io.out(`  ${hive("audit").padEnd(38)} who changed what (the API's audit trail)`);
  io.out("  ls .hive/results/                      the backtests' results");
  const port = Number(new URL(api).port);
  io.out(`  curl -H "Authorization: Bearer $(cat ${tokenFile})" ${api}/metrics   the orchestrator's metrics`);
  io.out(`  curl http://127.0.0.1:${port + 1}/metrics      a runner's metrics (${port + 1}-${port + 3})`);
}
