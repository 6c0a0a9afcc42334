/** The options every command that talks to the orchestrator shares: `--orchestrator` and `--json`. */
import type { Command } from "commander";
import { ApiClient, DEFAULT_ORCHESTRATOR_URL, resolveOrchestratorUrl } from "./api-client.ts";

/** The parsed shared options. */
export interface RemoteOptions {
  readonly orchestrator?: string;
  readonly json?: boolean;
}

/** Adds `--orchestrator <url>` and `--json` to a command. */
export function withRemoteOptions(command: Command): Command {
  return command
    .option(
      "--orchestrator <url>",
      `the orchestrator's HTTP API (default: $HIVE_ORCHESTRATOR, else ${DEFAULT_ORCHESTRATOR_URL})`,
    )
    .option("--json", "print JSON for scripts instead of tables");
}

/** The client of the orchestrator the options name. */
export function connect(opts: RemoteOptions): ApiClient {
  return new ApiClient(resolveOrchestratorUrl(opts.orchestrator));
}
