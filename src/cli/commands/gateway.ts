import type { Command } from "commander";
import { ExitCode } from "../exit-codes.ts";
import { runAsDaemon, type CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { waitForStopSignal } from "../stop-signal.ts";
import { parseListen } from "./orchestrator.ts";
import { UsageError } from "./plan.ts";

interface GatewayFlags {
  state: string;
  orders: string;
  control: string;
  keys: string;
  orchestratorKey?: string[];
  insecure?: boolean;
  config?: string;
  metricsListen?: string;
  marketData?: string[];
}

/**
 * `hive gateway`: the broker gateway daemon (fence table, risk, audit, paper broker), and its
 * helpers `hive gateway keys <dir>` (make or show a CURVE key pair), `hive gateway audit`
 * (print the audit log of a state directory, also while the gateway runs) and
 * `hive gateway reassign <gateway> --from <cluster-id>` (through the orchestrator's HTTP API,
 * admin role: that orchestrator becomes the gateway's controller; docs/gateway.md).
 */
export function registerGateway(program: Command, io: CliIo): void {
  const gateway = program
    .command("gateway")
    .description("run the broker gateway: only the fenced deployment may trade an account")
    .option("--state <dir>", "state directory (SQLite database, lock)", ".hive/gateway")
    .option("--orders <tcp://host:port>", "where runners send orders", "tcp://127.0.0.1:7100")
    .option(
      "--control <tcp://host:port>",
      "where the orchestrator sends control requests",
      "tcp://127.0.0.1:7101",
    )
    .option(
      "--keys <dir>",
      "directory of the gateway's CURVE key pair (made if missing)",
      ".hive/gateway-keys",
    )
    .option(
      "--orchestrator-key <key...>",
      "orchestrator CURVE public key(s) admitted on --control: Z85 or a file",
    )
    .option("--insecure", "no CURVE on either socket (benchmarks and demos only)")
    .option("--config <file>", "gateway YAML: risk limits per account, broker timeout")
    .option("--metrics-listen <host:port>", "serve Prometheus metrics at http://host:port/metrics")
    .option("--market-data <tcp://host:port...>", "market-data publishers for the paper broker's prices")
    .action(async (flags: GatewayFlags) => {
      runAsDaemon();
      const { startGateway, readGatewayConfig, readPublicKeyArg } = await import("../../gateway/index.ts");
      const { createLogger } = await import("../../core/logger.ts");
      for (const a of flags.marketData ?? [])
        if (!/^tcp:\/\/.+:\d+$/.test(a))
          throw new UsageError(`--market-data: found "${a}", expected tcp://host:port`);
      const log = createLogger("gateway");
      if (flags.insecure === true)
        io.err("warning: --insecure: no CURVE; anyone who can reach the ports may fence accounts and trade");
      const running = await startGateway({
        stateDir: flags.state,
        ordersListen: flags.orders,
        controlListen: flags.control,
        ...(flags.insecure === true ? { insecure: true } : { keysDir: flags.keys }),
        orchestratorKeys: (flags.orchestratorKey ?? []).map((k) => readPublicKeyArg("--orchestrator-key", k)),
        config: flags.config === undefined ? undefined : readGatewayConfig(flags.config),
        marketData: flags.marketData,
        metricsListen:
          flags.metricsListen === undefined
            ? undefined
            : parseListen("--metrics-listen", flags.metricsListen),
        log,
      });
      io.out(
        `gateway: orders ${running.ordersAddress}, control ${running.controlAddress}, ` +
          `public key ${running.publicKey ?? "(insecure: none)"}` +
          (running.metricsAddress === undefined ? "" : `, metrics ${running.metricsAddress}`),
      );
      const stop = waitForStopSignal();
      try {
        const { signal } = await Promise.race([stop, running.failure]);
        io.err(`gateway: ${signal}, closing`);
      } finally {
        await running.close();
        // The listeners stay until the close is done, so a repeated signal cannot cut it short.
        void stop.then(({ release }) => release());
      }
      io.exit(ExitCode.Ok);
    });

  gateway
    .command("keys <dir>")
    .description("make (or show) a CURVE key pair: <dir>/<name> (secret, mode 0600) and <name>.pub")
    .option("--name <file>", "file name of the secret key", "gateway.key")
    .action(async (dir: string, flags: { name: string }) => {
      const { loadOrCreateKeyPair, keyPairPath } = await import("../../gateway/index.ts");
      const file = keyPairPath(dir, flags.name);
      const pair = loadOrCreateKeyPair(file);
      io.out(pair.publicKey);
      io.err(`key pair at ${file} (public key in ${file}.pub)`);
    });

  const reassign = gateway
    .command("reassign")
    .description(
      "make the orchestrator of --orchestrator the controller of a gateway, in place of the cluster " +
        "that controls it now (a gateway obeys one orchestrator; its refusals name both cluster ids)",
    )
    .argument("<gateway>", "the gateway's name, as the orchestrator's --gateway name= gives it")
    .requiredOption(
      "--from <cluster-id>",
      'the cluster id that controls it now, as its refusals name it ("none" for a gateway no cluster holds)',
    );
  withRemoteOptions(reassign).action(async (name: string, opts: RemoteOptions & { from: string }) => {
    const r = await connect(opts).reassignGateway(name, opts.from, "");
    if (opts.json) io.out(JSON.stringify(r));
    else
      io.out(
        `gateway ${r.gateway}: controlled by cluster ${r.to} (was ${r.from ?? "none"}); ` +
          `its highest epoch ${r.gatewayEpoch}, this orchestrator's epochs continue after ${r.storeEpoch}`,
      );
    io.exit(ExitCode.Ok);
  });

  gateway
    .command("audit")
    .description(
      "print the audit log of the gateway's --state directory, its archive files included (safe while the gateway runs)",
    )
    .option("--account <account>", "only this account")
    .option("--after <seq>", "only records after this sequence number", "0")
    .option("--limit <n>", "at most this many records")
    .option("--json", "one JSON object per line")
    // --state is the gateway command's own option: commander gives it to the parent either way.
    .action(async (flags: { account?: string; after: string; limit?: string; json?: boolean }) => {
      const { state } = gateway.opts<{ state: string }>();
      const { readAudit, formatAuditLine } = await import("../../gateway/index.ts");
      const afterSeq = Number(flags.after);
      const limit = flags.limit === undefined ? undefined : Number(flags.limit);
      if (!Number.isInteger(afterSeq) || afterSeq < 0)
        throw new UsageError(`--after: found "${flags.after}", expected a sequence number`);
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
        throw new UsageError(`--limit: found "${flags.limit}", expected a count above 0`);
      const records = readAudit(state, { afterSeq, limit, account: flags.account });
      // The log's seq has no holes: without --account, a jump means archive files someone
      // removed (shipped elsewhere), which readers skip: said on stderr where the hole is.
      let expected = afterSeq + 1;
      for (const r of records) {
        io.out(flags.json === true ? JSON.stringify(r) : formatAuditLine(r));
        if (flags.account === undefined && r.seq > expected)
          io.err(`note: seq ${expected}–${r.seq - 1} are not in ${state} (archive files moved elsewhere?)`);
        expected = r.seq + 1;
      }
    });
}
