import type { Command } from "commander";
import type { LayoutView } from "../../orchestrator/control-plane.ts";
import { formatDeployments } from "../deployment-table.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { formatTable } from "../table.ts";

/** `hive status [<layout>]`: every layout with its state and counts, or one layout's deployments. */
export function registerStatus(program: Command, io: CliIo): void {
  const command = program
    .command("status")
    .description("the layouts and their state; with a name, that layout's deployments")
    .argument("[layout]", "an applied layout's name");
  withRemoteOptions(command).action(async (name: string | undefined, opts: RemoteOptions) => {
    const client = connect(opts);
    if (name !== undefined) {
      const layout = await client.getLayout(name);
      if (opts.json) io.out(JSON.stringify(layout));
      else {
        io.out(
          `layout ${layout.name}: ${layout.state} (generation ${layout.generation}, applied ${layout.appliedAt})`,
        );
        io.out(formatDeployments(layout.deployments));
      }
      io.exit(ExitCode.Ok);
      return;
    }
    const layouts = await client.listLayouts();
    if (opts.json) io.out(JSON.stringify(layouts));
    else if (layouts.length === 0) io.out("no layouts (apply one with: hive apply <layout.yaml>)");
    else
      io.out(
        formatTable(
          ["layout", "state", "generation", "running", "pending", "done", "failed", "applied"],
          layouts.map((l) => [l.name, l.state, String(l.generation), ...counts(l), l.appliedAt]),
        ),
      );
    io.exit(ExitCode.Ok);
  });
}

/**
 * Running (of all), pending (not placed or starting), done (ended with code 0: a finished
 * backtest) and failed (ended otherwise).
 */
function counts(l: LayoutView): string[] {
  const n = (test: (d: LayoutView["deployments"][number]) => boolean) => l.deployments.filter(test).length;
  return [
    `${n((d) => d.phase === "running")}/${l.deployments.length}`,
    String(n((d) => d.phase === "pending" || d.phase === "starting")),
    String(n((d) => d.phase === "exited" && d.lastExit?.code === 0)),
    String(n((d) => d.phase === "failed" || (d.phase === "exited" && d.lastExit?.code !== 0))),
  ];
}
