import type { Command } from "commander";
import { formatBytes } from "../../core/units.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { formatTable } from "../table.ts";

/** `hive datasets`: the dataset catalogue and the nodes where each dataset is hot. */
export function registerDatasets(program: Command, io: CliIo): void {
  const command = program
    .command("datasets")
    .description("the dataset catalogue, and where each is hot (in RAM)");
  withRemoteOptions(command).action(async (opts: RemoteOptions) => {
    const datasets = await connect(opts).listDatasets();
    if (opts.json) io.out(JSON.stringify(datasets));
    else if (datasets.length === 0) io.out("no datasets in the catalogue");
    else
      io.out(
        formatTable(
          ["dataset", "version", "size", "hot on", "source"],
          datasets.map((d) => [d.id, d.version, formatBytes(d.bytes), d.hotOn.join(" ") || "-", d.source]),
        ),
      );
    io.exit(ExitCode.Ok);
  });
}
