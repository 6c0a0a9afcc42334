import type { Command } from "commander";
import { formatBytes } from "../../core/units.ts";
import type { NodeView } from "../../orchestrator/control-plane.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { formatTable } from "../table.ts";

/** What a node with no resource limits shows, loudly: its processes can starve one another. */
export const NO_LIMITS_MARKER = "!! NO LIMITS !!";

/** `hive nodes`: every node, its health, what it has and what is committed on it. */
export function registerNodes(program: Command, io: CliIo): void {
  const command = program.command("nodes").description("the nodes: health, capacity, load, datasets, limits");
  withRemoteOptions(command).action(async (opts: RemoteOptions) => {
    const nodes = await connect(opts).listNodes();
    if (opts.json) io.out(JSON.stringify(nodes));
    else if (nodes.length === 0)
      io.out("no nodes: no runner has registered (start one with: hive runner --config f)");
    else {
      io.out(
        formatTable(
          [
            "node",
            "pool",
            "health",
            "draining",
            "cores",
            "memory",
            "cpu",
            "deployments",
            "hot datasets",
            "limits",
          ],
          nodes.map(row),
        ),
      );
      const unlimited = nodes.filter((n) => n.unlimited).map((n) => n.id);
      if (unlimited.length > 0) {
        io.err(
          `warning: ${unlimited.join(", ")} run${unlimited.length === 1 ? "s" : ""} processes without ` +
            "CPU or memory limits: one runaway process can starve the others",
        );
      }
    }
    io.exit(ExitCode.Ok);
  });
}

function row(n: NodeView): string[] {
  const pinned =
    n.capacity.exclusiveCores > 0
      ? ` (${n.allocated.exclusiveCores}/${n.capacity.exclusiveCores} pinned)`
      : "";
  return [
    n.id,
    n.pool,
    n.connected ? n.health : `${n.health}, disconnected`,
    n.draining ? "yes" : "no",
    `${cores(n.allocated.cores)}/${cores(n.capacity.cores)}${pinned}`,
    `${formatBytes(n.allocated.memoryBytes)}/${formatBytes(n.capacity.memoryBytes)}`,
    `${Math.round(n.load.cpu * 100)}%`,
    String(n.deployments),
    n.hotDatasets.map((d) => `${d.id}@${d.version}`).join(" ") || "-",
    n.unlimited ? NO_LIMITS_MARKER : n.resourceLimits,
  ];
}

function cores(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, "");
}
