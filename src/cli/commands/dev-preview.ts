import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { computeRoutes, readLayoutFile, type DeploymentInstance } from "../../layout/index.ts";
import { ClusterState, placeLayout, servicesToPlace } from "../../scheduler/index.ts";
import { DEFAULT_CLUSTER_FILE, readClusterFile } from "../cluster-file.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { formatTable } from "../table.ts";

/**
 * `hive dev-preview`: a dry run of `hive dev` with the control plane's pure cores on a simulated
 * cluster: it places every example layout (all or nothing, committing each before the next) and
 * computes each node's routing table, with the ports each node's range would hand out. It starts
 * no process, and says so.
 */
export function registerDevPreview(program: Command, io: CliIo): void {
  program
    .command("dev-preview")
    .description(
      "run The Hive on this machine (for now: place the example layouts on the simulated dev cluster)",
    )
    .option("--cluster <file>", "cluster YAML file", DEFAULT_CLUSTER_FILE)
    .option("--layouts <dir>", "directory of layouts to apply", "examples/layouts")
    .option("--run-dir <dir>", "where local sockets would live", "/run/hive")
    .action((opts: { cluster: string; layouts: string; runDir: string }) => {
      const nodes = readClusterFile(opts.cluster);
      const cluster = new ClusterState(nodes);
      const nextPort = new Map(nodes.map((n) => [n.id, n.portRange.first]));
      const files = readdirSync(opts.layouts)
        .filter((f) => f.endsWith(".yaml"))
        .sort();
      io.out(`hive dev: ${nodes.length} simulated nodes from ${opts.cluster}\n`);
      let failed = false;
      for (const file of files) {
        const layout = readLayoutFile(join(opts.layouts, file));
        const decision = placeLayout(cluster, servicesToPlace(layout), { seed: 1 });
        if (!decision.ok) {
          io.err(`${layout.name}: cannot be placed: ${decision.message}`);
          failed = true;
          continue;
        }
        const instances: DeploymentInstance[] = decision.placements.map((p) => {
          cluster.reserve(p.node, p.demand, true);
          const manifest = layout.services.find((s) => s.name === p.service);
          const addresses: Record<string, string> = {};
          for (const socket of manifest?.sockets.offers ?? []) {
            const port = nextPort.get(p.nodeId) ?? 0;
            nextPort.set(p.nodeId, port + 1);
            addresses[socket.name] = `tcp://127.0.0.1:${port}`;
          }
          const suffix = p.role === "active" ? "" : `-standby-${p.replica}`;
          return {
            deploymentId: `${layout.name}.${p.service}${suffix}`,
            service: p.service,
            role: p.role,
            nodeId: p.nodeId,
            addresses,
          };
        });
        io.out(`layout ${layout.name}:`);
        io.out(
          formatTable(
            ["deployment", "node", "offers"],
            instances.map((i) => [i.deploymentId, i.nodeId, Object.values(i.addresses).join(" ") || "-"]),
          ),
        );
        const routes = computeRoutes(layout, instances, { runDir: opts.runDir });
        const rows = [...routes].flatMap(([node, list]) =>
          list.map((r) => [node, `${r.deploymentId}.${r.socket}`, r.local, r.remotes.join(" ") || "(none)"]),
        );
        if (rows.length > 0) io.out(`\n${formatTable(["node", "route", "local", "remotes"], rows)}`);
        io.out("");
      }
      io.out("Preview only: no process was started (hive dev runs them).");
      io.exit(failed ? ExitCode.Failed : ExitCode.Ok);
    });
}
