import type { Command } from "commander";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { ApiClient } from "../api-client.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { formatTable } from "../table.ts";

/**
 * The live-trading safety commands, all through the orchestrator's HTTP API:
 *   hive failover <service> [--layout L]   promote the warm standby (fence first, then open)
 *   hive kill <account> [--reason R]       the kill switch: block new orders, cancel resting ones
 *   hive kill <account> --lift             lift it
 *   hive accounts [account]                who may trade each account, positions, open orders
 */
export function registerTrading(program: Command, io: CliIo): void {
  const failover = program
    .command("failover")
    .description(
      "fail a live strategy over to its warm standby: the gateway is fenced to it before it may trade",
    )
    .argument("<service>", "the live strategy's service name")
    .option("--layout <name>", "the layout it belongs to (needed only if several layouts have that service)");
  withRemoteOptions(failover).action(async (service: string, opts: RemoteOptions & { layout?: string }) => {
    const api = connect(opts);
    const layout = opts.layout ?? (await layoutOf(api, service));
    const r = await api.failover(layout, service);
    if (opts.json) io.out(JSON.stringify(r));
    else
      io.out(
        `${layout}/${service}: ${r.from ?? "(none)"} → ${r.to} at epoch ${r.epoch}; ` +
          `gateway fenced after ${r.fencedAfterMs.toFixed(1)} ms, order path open after ${r.openedAfterMs.toFixed(1)} ms`,
      );
    io.exit(ExitCode.Ok);
  });

  const kill = program
    .command("kill")
    .description(
      "the kill switch: the gateway blocks every new order of the account and cancels its resting orders",
    )
    .argument("<account>", "broker account id")
    .option("--reason <text>", "why, for the audit log", "kill switch from the CLI")
    .option("--lift", "lift the kill switch: the account may trade again")
    .option("--force", "kill an account that no layout trades and no gateway knows (else refused)");
  withRemoteOptions(kill).action(
    async (account: string, opts: RemoteOptions & { reason: string; lift?: boolean; force?: boolean }) => {
      const api = connect(opts);
      if (opts.lift === true) {
        await api.unkill(account);
        io.out(opts.json ? JSON.stringify({ account, killed: false }) : `${account}: kill switch lifted`);
      } else {
        const results = await api.kill(account, opts.reason, { force: opts.force === true });
        if (opts.json) io.out(JSON.stringify(results));
        else
          for (const k of results)
            io.out(`${account}: killed at gateway ${k.gateway}; ${k.cancelled} resting order(s) cancelled`);
      }
      io.exit(ExitCode.Ok);
    },
  );

  const accounts = program
    .command("accounts")
    .description(
      "each gateway's accounts: the deployment and epoch fenced to trade it, positions, open orders",
    )
    .argument("[account]", "only this account");
  withRemoteOptions(accounts).action(async (account: string | undefined, opts: RemoteOptions) => {
    const views = await connect(opts).accounts(account);
    if (opts.json) {
      io.out(JSON.stringify(views));
    } else if (views.length === 0) {
      io.out(
        account === undefined ? "no accounts at any gateway yet" : `no gateway knows account ${account}`,
      );
    } else {
      io.out(
        formatTable(
          ["GATEWAY", "ACCOUNT", "TRADER", "EPOCH", "STATE", "POSITIONS", "OPEN ORDERS"],
          views.map((v) => [
            v.gateway,
            v.account,
            v.fence?.deploymentId ?? "-",
            v.fence?.epoch ?? "-",
            v.killed ? "KILLED" : "trading",
            Object.entries(v.positions)
              .filter(([, q]) => q !== 0)
              .map(([s, q]) => `${s} ${q > 0 ? "+" : ""}${q}`)
              .join(", ") || "flat",
            String(v.openOrders.length),
          ]),
        ),
      );
    }
    io.exit(ExitCode.Ok);
  });
}

/** The one applied layout that has `service`; a clear error if none or several do. */
async function layoutOf(api: ApiClient, service: string): Promise<string> {
  const layouts = await api.listLayouts();
  const having = layouts.filter((l) => l.deployments.some((d) => d.service === service)).map((l) => l.name);
  if (having.length === 1 && having[0] !== undefined) return having[0];
  if (having.length === 0) {
    throw new HiveError(
      ErrorCode.NotFound,
      `no applied layout has a service ${service} (layouts: ${layouts.map((l) => l.name).join(", ") || "none"})`,
    );
  }
  throw new HiveError(
    ErrorCode.InvalidArgument,
    `several layouts have a service ${service} (${having.join(", ")}): say which with --layout`,
  );
}
