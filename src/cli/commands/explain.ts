import type { Command } from "commander";
import { readLayoutFile } from "../../layout/index.ts";
import { ClusterState, explain, requestFromManifest, type NodeVerdict } from "../../scheduler/index.ts";
import { DEFAULT_CLUSTER_FILE, readClusterFile } from "../cluster-file.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { formatTable } from "../table.ts";
import { parseSeed, UsageError } from "./plan.ts";

/** `hive explain <service> --layout f`: why a service goes where it goes, or why it cannot. */
export function registerExplain(program: Command, io: CliIo): void {
  program
    .command("explain")
    .description("why a service is placed where it is, or why it is pending: a reason for every node")
    .argument("<service>", "service name in the layout")
    .requiredOption("--layout <file>", "layout YAML file holding the service")
    .option("--cluster <file>", "cluster YAML file (nodes: [...])", DEFAULT_CLUSTER_FILE)
    .option("--seed <n>", "seed of the tie break", "1")
    .option("--json", "print the explanation as JSON")
    .action((service: string, opts: { layout: string; cluster: string; seed: string; json?: boolean }) => {
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
      if (opts.json) {
        io.out(JSON.stringify(e));
      } else {
        io.out(
          e.decision.ok
            ? `${service}: placed on ${e.decision.nodeId}`
            : `${service}: pending, no node can take it`,
        );
        io.out(`${e.summary}\n`);
        io.out(formatTable(["node", "verdict", "score", "why"], e.nodes.map(row)));
      }
      io.exit(e.decision.ok ? ExitCode.Ok : ExitCode.Failed);
    });
}

function row(v: NodeVerdict): string[] {
  if (v.verdict === "refused") return [v.nodeId, "refused", "-", v.detail];
  const parts = Object.entries(v.parts)
    .map(([k, s]) => `${k} ${s.toFixed(2)}`)
    .join(", ");
  const hot = v.hot === undefined ? "" : v.hot ? "dataset hot; " : "dataset not hot; ";
  return [v.nodeId, v.verdict, v.score.toFixed(3), `${hot}${parts}`];
}
