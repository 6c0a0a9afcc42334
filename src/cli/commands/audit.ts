import type { Command } from "commander";
import type { AuditEntry } from "../../orchestrator/store/auth-records.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { connect, withRemoteOptions, type RemoteOptions } from "../remote-options.ts";
import { formatTable } from "../table.ts";
import { UsageError } from "./plan.ts";
import { parseTimeFlag } from "./token.ts";

/**
 * `hive audit`: the orchestrator's audit trail (admin only): every call that changed something,
 * or was refused, oldest first. Without --since or --after, the last --limit entries.
 */
export function registerAudit(program: Command, io: CliIo): void {
  const command = program
    .command("audit")
    .description("who changed what, when, from where, and how it ended (needs an admin token)")
    .option("--since <when>", "entries from then on: a duration back (1h, 7d) or an ISO time")
    .option("--after <seq>", "entries after this sequence number (the NEXT a page ends with)")
    .option("--limit <n>", "at most this many (1 to 1000)", "100");
  withRemoteOptions(command).action(
    async (opts: RemoteOptions & { since?: string; after?: string; limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new UsageError(`--limit: found "${opts.limit}", expected a whole number from 1 to 1000`);
      }
      const after = opts.after === undefined ? undefined : Number(opts.after);
      if (after !== undefined && (!Number.isSafeInteger(after) || after < 0)) {
        throw new UsageError(`--after: found "${opts.after}", expected a sequence number ≥ 0`);
      }
      const page = await connect(opts).audit({
        limit,
        ...(opts.since === undefined ? {} : { since: parseTimeFlag("--since", opts.since, -1) }),
        ...(after === undefined ? {} : { after }),
      });
      if (opts.json) io.out(JSON.stringify(page));
      else if (page.entries.length === 0) io.out("no audit entries");
      else {
        io.out(
          formatTable(
            ["seq", "at", "who", "role", "from", "call", "about", "outcome"],
            page.entries.map(row),
          ),
        );
        io.out(`(next: hive audit --after ${page.next})`);
      }
      io.exit(ExitCode.Ok);
    },
  );
}

function row(e: AuditEntry): string[] {
  return [
    String(e.seq),
    e.at,
    e.tokenId === undefined ? "(no valid token)" : `${e.tokenName ?? ""} (${e.tokenId})`,
    e.role ?? "-",
    e.remote,
    `${e.method} ${e.route}`,
    Object.entries(e.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ") || "-",
    `${e.status}${e.errorCode === undefined ? "" : ` ${e.errorCode}`}`,
  ];
}
