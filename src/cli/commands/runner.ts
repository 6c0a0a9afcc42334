import type { Command } from "commander";
import { ExitCode } from "../exit-codes.ts";
import { waitForStopSignal } from "../stop-signal.ts";
import { runAsDaemon, type CliIo } from "../io.ts";
import { parseMs, UsageError } from "./plan.ts";

/** --tls-* flags as a `tls` override; all three or none (the file's stay otherwise). */
function tlsOverride(o: { tlsCa?: string; tlsCert?: string; tlsKey?: string }) {
  if (o.tlsCa === undefined && o.tlsCert === undefined && o.tlsKey === undefined) return undefined;
  if (o.tlsCa === undefined || o.tlsCert === undefined || o.tlsKey === undefined) {
    throw new UsageError("--tls-ca, --tls-cert and --tls-key go together (or set tls in the config file)");
  }
  return { ca: o.tlsCa, cert: o.tlsCert, key: o.tlsKey };
}

/** `hive runner --config f`: the runner daemon of one node (also installed as `trading-runner`). */
export function registerRunner(program: Command, io: CliIo): void {
  program
    .command("runner")
    .description("run this node's runner daemon: register with the orchestrator, run what it asks")
    .requiredOption("--config <file>", "runner YAML file (see examples/runner/)")
    .option("--node-id <id>", "override the node id of the file")
    .option("--orchestrator <url...>", "override the orchestrator URL(s) of the file")
    .option(
      "--join-token-file <file>",
      "a file (mode 0600) with a join token: over TLS spent once on this node's certificate (bootstrap)",
    )
    .option("--tls-ca <file>", "override tls.ca: the cluster CA certificate")
    .option(
      "--tls-cert <file>",
      "override tls.cert: this node's certificate (obtained with the join token if missing)",
    )
    .option("--tls-key <file>", "override tls.key: its key (mode 0600)")
    .option("--stop-on-exit", "stop this runner's processes when it exits (by default they outlive it)")
    .option("--advertise-host <ip>", "override the address it gives out in tcp:// addresses")
    .option(
      "--curve-key-file <file>",
      "its CURVE key pair for the gateways (made if missing); default: a fresh pair at each start",
    )
    .option(
      "--self-fence-kill-after-ms <ms>",
      "after its lease lapses (order paths closed), kill live processes this much later (default: one lease)",
    )
    .action(
      async (opts: {
        config: string;
        nodeId?: string;
        orchestrator?: string[];
        joinTokenFile?: string;
        tlsCa?: string;
        tlsCert?: string;
        tlsKey?: string;
        stopOnExit?: boolean;
        advertiseHost?: string;
        curveKeyFile?: string;
        selfFenceKillAfterMs?: string;
      }) => {
        runAsDaemon();
        // Loaded here so that `hive validate` and friends do not load ZeroMQ and cgroup code.
        const { readRunnerConfig } = await import("../../runner/runner-options.ts");
        const { createRunner } = await import("../../runner/create-runner.ts");
        const options = readRunnerConfig(opts.config, {
          nodeId: opts.nodeId,
          orchestrators: opts.orchestrator,
          joinTokenFile: opts.joinTokenFile,
          tls: tlsOverride(opts),
          advertiseHost: opts.advertiseHost,
          curveKeyFile: opts.curveKeyFile,
          selfFenceKillAfterMs:
            opts.selfFenceKillAfterMs === undefined
              ? undefined
              : parseMs("--self-fence-kill-after-ms", opts.selfFenceKillAfterMs),
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
