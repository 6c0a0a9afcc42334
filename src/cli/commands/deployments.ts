import type { Command } from "commander";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { formatDeployments } from "../deployment-table.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";

/** `hive deployments [--layout l] [--node n]`: the deployments, where they run and how they are. */
export function registerDeployments(program: Command, io: CliIo): void {
  const command = program
    .command("deployments")
    .description("the deployments (instances of services): node, phase, pid, restarts, why pending")
    .option("--layout <name>", "only this layout's")
    .option("--node <id>", "only those on this node");
  withRemoteOptions(command).action(async (opts: RemoteOptions & { layout?: string; node?: string }) => {
    const client = connect(opts);
    const list = await client.listDeployments({
      ...(opts.layout === undefined ? {} : { layout: opts.layout }),
      ...(opts.node === undefined ? {} : { nodeId: opts.node }),
    });
    // An empty answer may be a misspelt name: say so rather than print an empty table.
    if (list.length === 0 && opts.layout !== undefined) await client.getLayout(opts.layout);
    if (list.length === 0 && opts.node !== undefined) {
      const nodes = await client.listNodes();
      if (!nodes.some((n) => n.id === opts.node)) {
        const known = nodes.map((n) => n.id).join(", ") || "none";
        throw new HiveError(ErrorCode.NotFound, `no node "${opts.node}" (nodes: ${known})`);
      }
    }
    if (opts.json) io.out(JSON.stringify(list));
    else if (list.length === 0) io.out("no deployments");
    else io.out(formatDeployments(list));
    io.exit(ExitCode.Ok);
  });
}
