import type { Command } from "commander";
import { ExitCode } from "../exit-codes.ts";
import { waitForStopSignal } from "../stop-signal.ts";
import type { CliIo } from "../io.ts";

/** `hive runner --config f`: the runner daemon of one node (also installed as `trading-runner`). */
export function registerRunner(program: Command, io: CliIo): void {
  program
    .command("runner")
    .description("run this node's runner daemon: register with the orchestrator, run what it asks")
    .requiredOption("--config <file>", "runner YAML file (see examples/runner/)")
    .option("--node-id <id>", "override the node id of the file")
    .option("--orchestrator <url...>", "override the orchestrator URL(s) of the file")
    .option("--join-token <token>", "override the join token of the file")
    .option("--stop-on-exit", "stop this runner's processes when it exits (by default they outlive it)")
    .action(
      async (opts: {
        config: string;
        nodeId?: string;
        orchestrator?: string[];
        joinToken?: string;
        stopOnExit?: boolean;
      }) => {
        // Loaded here so that `hive validate` and friends do not load ZeroMQ and cgroup code.
        const { readRunnerConfig } = await import("../../runner/runner-options.ts");
        const { createRunner } = await import("../../runner/create-runner.ts");
        const options = readRunnerConfig(opts.config, {
          nodeId: opts.nodeId,
          orchestrators: opts.orchestrator,
          joinToken: opts.joinToken,
        });
        if (process.getuid?.() !== 0) io.err("warning: not root: cgroups and /run may not be writable");
        const runner = await createRunner(options);
        await runner.start();
        io.err(
          `runner ${options.nodeId} (${options.pool}) started; Ctrl-C stops it, its processes keep running`,
        );
        const { signal, release } = await waitForStopSignal();
        io.err(`runner ${options.nodeId}: ${signal}, closing`);
        await runner.close({ stopDeployments: opts.stopOnExit === true });
        release();
        io.exit(ExitCode.Ok);
      },
    );
}
