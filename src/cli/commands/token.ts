import type { Command } from "commander";
import { writeSecretFile } from "../../core/secret-file.ts";
import { API_ROLES, type ApiRole } from "../../orchestrator/store/auth-records.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { formatTable } from "../table.ts";
import { UsageError } from "./plan.ts";

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time given as a duration from now (`30d`, `12h`, `90m`, `45s`; `sign` -1 for the past) or as
 * an ISO 8601 time; returned as ISO 8601.
 */
export function parseTimeFlag(flag: string, text: string, sign: 1 | -1, now = new Date()): string {
  const match = /^(\d{1,9})([smhd])$/.exec(text);
  if (match)
    return new Date(now.getTime() + sign * Number(match[1]) * (UNITS[match[2] ?? "s"] ?? 0)).toISOString();
  const at = Date.parse(text);
  if (Number.isNaN(at)) {
    throw new UsageError(
      `${flag}: found "${text}", expected a duration such as 30d, 12h, 90m or an ISO time`,
    );
  }
  return new Date(at).toISOString();
}

/**
 * `hive token create|list|revoke`: the API tokens (admin only). `create` shows the token once:
 * on stdout alone (so `> file` keeps it), or, with `--out`, only in that file (mode 0600).
 */
export function registerToken(program: Command, io: CliIo): void {
  const token = program
    .command("token")
    .description("API tokens: create, list, revoke (needs an admin token)");

  const create = token
    .command("create")
    .description("make a token; it is shown once")
    .requiredOption("--name <name>", "who or what holds it (unique among live tokens)")
    .requiredOption("--role <role>", `one of ${API_ROLES.join(", ")}`)
    .option(
      "--expires <when>",
      "when it stops working: a duration (30d, 12h) or an ISO time (default: never)",
    )
    .option("--out <file>", "write the token to this file (mode 0600) instead of stdout");
  withRemoteOptions(create).action(
    async (opts: RemoteOptions & { name: string; role: string; expires?: string; out?: string }) => {
      if (!(API_ROLES as readonly string[]).includes(opts.role)) {
        throw new UsageError(`--role: found "${opts.role}", expected one of ${API_ROLES.join(", ")}`);
      }
      const expiresAt = opts.expires === undefined ? undefined : parseTimeFlag("--expires", opts.expires, 1);
      const made = await connect(opts).createToken(opts.name, opts.role as ApiRole, expiresAt);
      const what = `token ${made.id} (${made.name}, role ${made.role}${made.expiresAt ? `, expires ${made.expiresAt}` : ""})`;
      if (opts.out !== undefined) {
        writeSecretFile(opts.out, `${made.token}\n`);
        io.err(`made ${what}; written to ${opts.out} (mode 0600)`);
      } else {
        io.err(`made ${what}; it is shown once, here:`);
        io.out(opts.json ? JSON.stringify(made) : made.token);
      }
      io.exit(ExitCode.Ok);
    },
  );

  const list = token.command("list").description("every token: id, name, role, state (no secrets)");
  withRemoteOptions(list).action(async (opts: RemoteOptions) => {
    const tokens = await connect(opts).listTokens();
    if (opts.json) io.out(JSON.stringify(tokens));
    else
      io.out(
        formatTable(
          ["id", "name", "role", "state", "created", "expires"],
          tokens.map((t) => [t.id, t.name, t.role, t.state, t.createdAt, t.expiresAt ?? "never"]),
        ),
      );
    io.exit(ExitCode.Ok);
  });

  const revoke = token
    .command("revoke")
    .description("revoke a token: it is refused from now on")
    .argument("<token>", "its id, or the name of a live token");
  withRemoteOptions(revoke).action(async (which: string, opts: RemoteOptions) => {
    const revoked = await connect(opts).revokeToken(which);
    io.out(opts.json ? JSON.stringify(revoked) : `revoked token ${revoked.id} (${revoked.name})`);
    io.exit(ExitCode.Ok);
  });
}
