import type { Command } from "commander";
import { readLayoutFile } from "../../layout/index.ts";
import { ClusterState, explain, requestFromManifest } from "../../scheduler/index.ts";
import { DEFAULT_CLUSTER_FILE, readClusterFile } from "../cluster-file.ts";
import { printExplanation } from "../explanation-view.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions } from "../remote-options.ts";
import { parseSeed, UsageError } from "./plan.ts";

/**
 * `hive explain <service> --layout <name|file>`: why a service goes where it goes, or why it
 * cannot. On the live cluster (the orchestrator) when `--layout` names an applied layout; a dry
 * run on a cluster file when `--cluster` is given or `--layout` is a YAML file.
 */
export function registerExplain(program: Command, io: CliIo): void {
  const command = program
    .command("explain")
    .description("why a service is placed where it is, or why it is pending: a reason for every node")
    .argument("<service>", "service name in the layout")
    .requiredOption(
      "--layout <name|file>",
      "an applied layout's name (asks the orchestrator), or a layout YAML file (dry run)",
    )
    .option(
      "--cluster <file>",
      `dry run on this cluster YAML file (default with a file: ${DEFAULT_CLUSTER_FILE})`,
    )
    .option("--seed <n>", "seed of the tie break (dry run)", "1");
  withRemoteOptions(command).action(
    async (
      service: string,
      opts: { layout: string; cluster?: string; seed: string; orchestrator?: string; json?: boolean },
    ) => {
      if (opts.cluster !== undefined || isLayoutFile(opts.layout)) {
        io.exit(dryRun(io, service, { ...opts, cluster: opts.cluster ?? DEFAULT_CLUSTER_FILE }));
        return;
      }
      const e = await connect(opts).explain(opts.layout, service);
      io.exit(printExplanation(io, service, e, opts.json === true));
    },
  );
}

/** A `--layout` that is a file, not a layout's name (names have no dots or slashes). */
function isLayoutFile(layout: string): boolean {
  return /\.ya?ml$/i.test(layout) || layout.includes("/");
}

function dryRun(
  io: CliIo,
  service: string,
  opts: { layout: string; cluster: string; seed: string; json?: boolean },
): number {
  const layout = readLayoutFile(opts.layout);
  const manifest = layout.services.find((s) => s.name === service);
  if (!manifest) {
    const names = layout.services.map((s) => s.name).join(", ");
    throw new UsageError(`no service "${service}" in ${opts.layout}; it has: ${names}`);
  }
  const cluster = new ClusterState(readClusterFile(opts.cluster));
  const request = requestFromManifest(manifest, {
    catalogue: layout.datasets,
    key: `${layout.name}/${service}`,
  });
  const e = explain(cluster, request, { seed: parseSeed(opts.seed) });
  return printExplanation(io, service, e, opts.json === true);
}
