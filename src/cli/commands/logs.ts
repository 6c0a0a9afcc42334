import type { Command } from "commander";
import { parseBytes } from "../../core/units.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { LineBuffer } from "../line-buffer.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { UsageError } from "./plan.ts";

/**
 * `hive logs <deployment> [-f] [--stderr] [--tail <bytes>]`: a deployment's output, line by line.
 * Ctrl-C (or SIGTERM) stops following cleanly, with exit status 0.
 */
export function registerLogs(program: Command, io: CliIo): void {
  const command = program
    .command("logs")
    .description("a deployment's output, as its runner captured it; -f follows it")
    .argument("<deployment>", "deployment id (see hive deployments)")
    .option("-f, --follow", "keep the stream open for new output (Ctrl-C stops)")
    .option("--stderr", "its standard error instead of its standard output")
    .option("--tail <bytes>", "only the last bytes of what is kept (e.g. 4096, 64KiB)");
  withRemoteOptions(command).action(
    async (id: string, opts: RemoteOptions & { follow?: boolean; stderr?: boolean; tail?: string }) => {
      const tailBytes = opts.tail === undefined ? undefined : parseTail(opts.tail);
      const stream = opts.stderr ? "stderr" : "stdout";
      const client = connect(opts);
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const emit = (line: string) =>
        io.out(opts.json ? JSON.stringify({ deployment: id, stream, line }) : line);
      try {
        const lines = new LineBuffer();
        const chunks = client.logs(id, {
          stream,
          follow: opts.follow === true,
          ...(tailBytes === undefined ? {} : { tailBytes }),
          signal: abort.signal,
        });
        for await (const chunk of chunks) for (const line of lines.push(chunk)) emit(line);
        const rest = lines.flush();
        if (rest !== undefined) emit(rest);
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
      io.exit(ExitCode.Ok);
    },
  );
}

function parseTail(text: string): number {
  const bytes = parseBytes(text);
  if (bytes === undefined)
    throw new UsageError(`--tail: found "${text}", expected a number of bytes (e.g. 4096 or 64KiB)`);
  return bytes;
}
