import type { Command } from "commander";
import { readLayoutFile } from "../../layout/index.ts";
import { ClusterState, placeLayout, servicesToPlace } from "../../scheduler/index.ts";
import { formatBytes } from "../../core/units.ts";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { DEFAULT_CLUSTER_FILE, readClusterFile } from "../cluster-file.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { formatTable } from "../table.ts";

/** `hive plan <layout.yaml>`: where the scheduler would place a layout, without running it. */
export function registerPlan(program: Command, io: CliIo): void {
  program
    .command("plan")
    .description(
      "dry run: place a layout on a cluster file, all or nothing, and show where each instance goes",
    )
    .argument("<layout>", "layout YAML file")
    .option("--cluster <file>", "cluster YAML file (nodes: [...])", DEFAULT_CLUSTER_FILE)
    .option("--seed <n>", "seed of the tie break (the same seed gives the same plan)", "1")
    .option("--json", "print the plan as JSON")
    .action((file: string, opts: { cluster: string; seed: string; json?: boolean }) => {
      const layout = readLayoutFile(file);
      const cluster = new ClusterState(readClusterFile(opts.cluster));
      const decision = placeLayout(cluster, servicesToPlace(layout), { seed: parseSeed(opts.seed) });
      if (opts.json) {
        io.out(JSON.stringify(decision.ok ? { ok: true, placements: decision.placements } : decision));
      } else if (decision.ok) {
        const rows = decision.placements.map((p) => [
          p.service,
          p.role === "active" ? "active" : `standby ${p.replica}`,
          p.nodeId,
          String(p.demand.exclusiveCores > 0 ? `${p.demand.exclusiveCores} pinned` : p.demand.cores),
          formatBytes(p.demand.memoryBytes),
        ]);
        io.out(formatTable(["service", "role", "node", "cores", "memory"], rows));
      } else {
        io.err(`cannot place layout ${layout.name}: ${decision.message}`);
        io.err(`(nothing was placed; see: hive explain ${decision.service} --layout ${file})`);
      }
      io.exit(decision.ok ? ExitCode.Ok : ExitCode.Failed);
    });
}

/** Parses --seed; a bad value is a usage error. */
export function parseSeed(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--seed: found "${text}", expected a whole number ≥ 0`);
  return n;
}

/** Parses a duration flag in ms; anything but a whole number above 0 is a usage error. */
export function parseMs(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`${flag}: found "${text}", expected a whole number of milliseconds > 0`);
  return n;
}

/** A bad flag or argument: exit code 2, one line, no stack (an invalid_argument HiveError). */
export class UsageError extends HiveError {
  override readonly name = "UsageError";

  constructor(message: string) {
    super(ErrorCode.InvalidArgument, message);
  }
}
