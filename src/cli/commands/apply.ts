import type { Command } from "commander";
import { ValidationError } from "../../domain/index.ts";
import { locateLayoutIssues, readLayoutFile } from "../../layout/index.ts";
import type { ApplyResult, DeploymentView } from "../../orchestrator/control-plane.ts";
import { deploymentDetail } from "../deployment-table.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { layoutSource } from "../layout-source.ts";
import { watchLayout } from "../layout-watch.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { UsageError } from "./plan.ts";

/**
 * `hive apply <layout.yaml>`: checks the file here (a bad one never reaches the orchestrator),
 * sends it, says what changed, then shows each deployment's progress until the layout runs, or
 * says after `--timeout` why it does not.
 */
export function registerApply(program: Command, io: CliIo): void {
  const command = program
    .command("apply")
    .description("apply a layout: place, start and wire its services; show progress until it runs")
    .argument("<layout>", "layout YAML file")
    .option("--no-wait", "return once the orchestrator has the layout, without waiting for it to run")
    .option("--timeout <seconds>", "how long to wait for the layout to run", "60");
  withRemoteOptions(command).action(
    async (file: string, opts: RemoteOptions & { wait: boolean; timeout: string }) => {
      const timeoutS = parseSeconds(opts.timeout);
      const layout = readLayoutFile(file);
      const client = connect(opts);
      const result = await client.applyLayout(layoutSource(file), file).catch((err: unknown) => {
        // The orchestrator's own checks (gateways, accounts of other layouts) saw the text with
        // its service files inlined: place what they found in the files as written.
        if (err instanceof ValidationError) throw new ValidationError(locateLayoutIssues(file, err.issues));
        throw err;
      });
      if (!opts.wait) {
        if (opts.json) io.out(JSON.stringify({ apply: result }));
        else printChanges(io, result);
        io.exit(ExitCode.Ok);
        return;
      }
      if (!opts.json) {
        printChanges(io, result);
        io.out(`waiting for ${layout.name} to run (up to ${opts.timeout} s)...`);
      }
      const watch = await watchLayout(client, layout.name, {
        timeoutMs: timeoutS * 1000,
        onChange: opts.json ? undefined : (d, ms) => io.out(progressLine(d, ms)),
      });
      if (opts.json) io.out(JSON.stringify({ apply: result, running: watch.running, layout: watch.layout }));
      const waiting = watch.layout.deployments.filter((d) => d.phase !== "running");
      if (watch.running) {
        if (!opts.json) {
          const n = watch.layout.deployments.length;
          const state = watch.layout.state === "completed" ? "completed" : "running";
          io.out(
            `${layout.name} is ${state}: ${n} deployment${n === 1 ? "" : "s"} in ${seconds(watch.elapsedMs)}`,
          );
        }
        io.exit(ExitCode.Ok);
        return;
      }
      io.err(
        `error: not running after ${opts.timeout} s: layout ${layout.name} is ${watch.layout.state}, ` +
          `${waiting.length} of ${watch.layout.deployments.length} deployments not running`,
      );
      for (const d of waiting) {
        const why = deploymentDetail(d);
        io.err(`  ${d.id}: ${d.phase}${why === "" ? "" : `: ${why}`}`);
      }
      const first = waiting.find((d) => d.phase === "pending");
      if (first !== undefined) io.err(`(see: hive explain ${first.service} --layout ${layout.name})`);
      io.exit(ExitCode.Failed);
    },
  );
}

function printChanges(io: CliIo, r: ApplyResult): void {
  io.out(`applied ${r.layout} (generation ${r.generation})`);
  const groups: [string, readonly string[]][] = [
    ["added", r.added],
    ["changed", r.changed],
    ["removed", r.removed],
  ];
  for (const [what, services] of groups)
    if (services.length > 0) io.out(`  ${what.padEnd(9)} ${services.join(", ")}`);
  if (r.unchanged.length > 0)
    io.out(`  unchanged ${r.unchanged.length} service${r.unchanged.length === 1 ? "" : "s"}`);
}

function progressLine(d: DeploymentView, elapsedMs: number): string {
  const where = d.nodeId === null ? "" : ` on ${d.nodeId}`;
  const pid = d.pid === null ? "" : ` (pid ${d.pid})`;
  const why = d.pendingReason === null ? "" : `: ${d.pendingReason}`;
  return `  ${seconds(elapsedMs).padStart(6)}  ${d.id}: ${d.phase}${where}${pid}${why}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Parses `--timeout`; a bad value is a usage error. */
export function parseSeconds(text: string): number {
  const s = Number(text);
  if (!Number.isFinite(s) || s <= 0)
    throw new UsageError(`--timeout: found "${text}", expected a number of seconds > 0`);
  return s;
}
