import type { Command } from "commander";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";

/** `hive drain <node> [--undo]`: the node takes nothing new (or takes work again). */
export function registerDrain(program: Command, io: CliIo): void {
  const command = program
    .command("drain")
    .description("mark a node draining: nothing new is placed on it (what runs there keeps running)")
    .argument("<node>", "node id")
    .option("--undo", "take the node back: it is no longer draining");
  withRemoteOptions(command).action(async (nodeId: string, opts: RemoteOptions & { undo?: boolean }) => {
    const node = await connect(opts).drain(nodeId, opts.undo !== true);
    if (opts.json) io.out(JSON.stringify(node));
    else if (node.draining) {
      const n = node.deployments;
      io.out(
        `${node.id} is draining: nothing new goes there; its ${n} deployment${n === 1 ? " keeps" : "s keep"} running`,
      );
    } else io.out(`${node.id} is no longer draining`);
    io.exit(ExitCode.Ok);
  });
}
