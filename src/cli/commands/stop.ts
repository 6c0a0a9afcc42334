import type { Command } from "commander";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";

/** `hive stop <layout>`: stops every deployment of a layout, frees its resources, forgets it. */
export function registerStop(program: Command, io: CliIo): void {
  const command = program
    .command("stop")
    .description("stop a layout: its processes stop, its resources are freed, the layout is forgotten")
    .argument("<layout>", "an applied layout's name");
  withRemoteOptions(command).action(async (name: string, opts: RemoteOptions) => {
    await connect(opts).stopLayout(name);
    io.out(opts.json ? JSON.stringify({ layout: name, stopped: true }) : `stopped ${name}`);
    io.exit(ExitCode.Ok);
  });
}
