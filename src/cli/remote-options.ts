/**
 * The options every command that talks to the orchestrator shares, and how they and the context
 * file (cli-config.ts) decide where to connect, with which token and which CA:
 *
 * - server: `--orchestrator`, else HIVE_ORCHESTRATOR, else the context's, else the default;
 * - context: `--context`, else the file's current-context;
 * - token: `--token-file` (0600), else HIVE_TOKEN, else the context's; CA: `--ca-file`, else
 *   HIVE_CA_FILE, else the context's.
 *
 * A context's token (and CA) go only to the context's own server: a server given by flag or
 * environment that is not the context's gets no token from it (a token is never sent to a
 * server its context did not name), only one given with --token-file or HIVE_TOKEN.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { readSecretFile } from "../core/secret-file.ts";
import { ApiClient, DEFAULT_ORCHESTRATOR_URL, resolveOrchestratorUrl } from "./api-client.ts";
import { configPath, contextToken, loadConfig, type CliContext } from "./cli-config.ts";

/** The parsed shared options. */
export interface RemoteOptions {
  readonly orchestrator?: string;
  readonly context?: string;
  readonly tokenFile?: string;
  readonly caFile?: string;
  readonly json?: boolean;
}

/** Adds `--orchestrator`, `--context`, `--token-file`, `--ca-file` and `--json` to a command. */
export function withRemoteOptions(command: Command): Command {
  return command
    .option(
      "--orchestrator <url>",
      `the orchestrator's HTTP API (default: $HIVE_ORCHESTRATOR, else the context's, else ${DEFAULT_ORCHESTRATOR_URL})`,
    )
    .option("--context <name>", "a context of the context file ($HIVE_CONFIG, ~/.config/hive/config)")
    .option(
      "--token-file <file>",
      "the API token, in a file of mode 0600 (default: $HIVE_TOKEN, else the context's)",
    )
    .option(
      "--ca-file <file>",
      "the CA that signed an https orchestrator's certificate (default: $HIVE_CA_FILE, else the context's)",
    )
    .option("--json", "print JSON for scripts instead of tables");
}

/** Where to connect and with what, as the options, the environment and the context file say. */
export interface ResolvedRemote {
  readonly url: string;
  readonly token?: string;
  readonly ca?: Buffer;
  /** The context used, if any. */
  readonly context?: string;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false; // a malformed server in the context matches nothing
  }
}

/** Resolves the options (see the header). */
export function resolveRemote(opts: RemoteOptions, env: NodeJS.ProcessEnv = process.env): ResolvedRemote {
  const config = loadConfig(configPath(env));
  const name = opts.context ?? config.currentContext;
  let context: CliContext | undefined;
  if (name !== undefined && name !== "") {
    context = config.contexts.find((c) => c.name === name);
    if (context === undefined && opts.context !== undefined) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `--context ${name}: no such context in ${config.path} (it has: ${config.contexts.map((c) => c.name).join(", ") || "none"})`,
      );
    }
  }
  const url = resolveOrchestratorUrl(
    opts.orchestrator,
    env,
    context && { url: context.server, from: `context ${context.name} in ${config.path}` },
  );
  const own = context !== undefined && sameOrigin(url, context.server) ? context : undefined;
  const token =
    opts.tokenFile !== undefined
      ? readSecretFile("--token-file", opts.tokenFile).trim()
      : env.HIVE_TOKEN
        ? env.HIVE_TOKEN.trim()
        : own && contextToken(config, own);
  const caFile = opts.caFile ?? (env.HIVE_CA_FILE || undefined) ?? own?.["ca-file"];
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `CA file ${caFile} cannot be read: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  return {
    url,
    ...(token ? { token } : {}),
    ...(ca ? { ca } : {}),
    ...(own ? { context: own.name } : {}),
  };
}

/** The client of the orchestrator the options name. */
export function connect(opts: RemoteOptions): ApiClient {
  const remote = resolveRemote(opts);
  return new ApiClient(remote.url, {
    ...(remote.token === undefined ? {} : { token: remote.token }),
    ...(remote.ca === undefined ? {} : { ca: remote.ca }),
  });
}
