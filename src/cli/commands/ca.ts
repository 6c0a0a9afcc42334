import { join } from "node:path";
import type { Command } from "commander";
import type { CliIo } from "../io.ts";
import { UsageError } from "./plan.ts";

/** The CA directory unless --dir says otherwise. */
const DEFAULT_CA_DIR = ".hive/ca";

/** Parses a lifetime such as `90s`, `15m`, `1h`, `7d` into ms. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const n = Number(m?.[1]);
  if (!m || !(n > 0))
    throw new UsageError(`${flag}: found "${text}", expected a lifetime such as 30m, 1h or 7d`);
  return n * unit[m[2] as keyof typeof unit];
}

function parseDays(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--days: found "${text}", expected a whole number > 0`);
  return n;
}

/**
 * `hive ca`: the cluster CA that runners' and orchestrators' certificates come from (see
 * docs/runner-identity.md). `init` makes it; `issue node <id>` and `issue orchestrator --name ...` make a
 * key pair and a certificate signed by it; `join-token create|list|prune` manage the one-time
 * tokens with which a runner obtains its certificate itself (TLS bootstrap). Nothing secret is
 * printed or taken on the command line: keys and tokens go to files of mode 0600.
 */
export function registerCa(program: Command, io: CliIo): void {
  const ca = program
    .command("ca")
    .description("the cluster CA: make it, issue node and orchestrator certificates, join tokens");

  ca.command("init")
    .description("make the cluster CA: <dir>/ca.crt and <dir>/ca.key (0600) in a 0700 directory")
    .option("--dir <dir>", "the CA directory", DEFAULT_CA_DIR)
    .option("--name <name>", "the CA's common name", "hive cluster CA")
    .option("--days <n>", "validity in days", "3650")
    .action(async (flags: { dir: string; name: string; days: string }) => {
      const { initClusterCa } = await import("../../security/pki/index.ts");
      const paths = await initClusterCa(flags.dir, { name: flags.name, days: parseDays(flags.days) });
      io.out(paths.cert);
      io.err(
        `cluster CA made: certificate ${paths.cert}, key ${paths.key} (mode 0600; keep it off the nodes)`,
      );
    });

  const issue = ca.command("issue").description("issue a certificate signed by the cluster CA");
  issue
    .command("node <id>")
    .description("a runner's client certificate for node <id>: <out>.crt and <out>.key (0600)")
    .option("--dir <dir>", "the CA directory", DEFAULT_CA_DIR)
    .option("--out <base>", "where to write <base>.crt and <base>.key (default <dir>/nodes/<id>)")
    .option("--days <n>", "validity in days", "365")
    .action(async (id: string, flags: { dir: string; out?: string; days: string }) => {
      const { issueNodePem, loadClusterCa, writeIssued } = await import("../../security/pki/index.ts");
      const authority = await loadClusterCa(flags.dir);
      const issued = await issueNodePem(authority, id, { days: parseDays(flags.days) });
      const paths = writeIssued(flags.out ?? join(flags.dir, "nodes", id), issued);
      io.out(paths.cert);
      io.err(`node ${id}: certificate ${paths.cert}, key ${paths.key} (mode 0600)`);
    });
  issue
    .command("orchestrator")
    .description("an orchestrator's server certificate for the names runners reach it by")
    .option("--dir <dir>", "the CA directory", DEFAULT_CA_DIR)
    .option(
      "--name <dns-or-ip>",
      "a DNS name or IP address runners connect to (repeatable)",
      (name: string, all: string[]) => [...all, name],
      [] as string[],
    )
    .option("--out <base>", "where to write <base>.crt and <base>.key (default <dir>/orchestrator)")
    .option("--days <n>", "validity in days", "365")
    .action(async (flags: { dir: string; name: string[]; out?: string; days: string }) => {
      if (flags.name.length === 0) throw new UsageError("--name: give at least one DNS name or IP address");
      const { issueServerPem, loadClusterCa, writeIssued } = await import("../../security/pki/index.ts");
      const authority = await loadClusterCa(flags.dir);
      const issued = await issueServerPem(authority, flags.name, { days: parseDays(flags.days) });
      const paths = writeIssued(flags.out ?? join(flags.dir, "orchestrator"), issued);
      io.out(paths.cert);
      io.err(
        `orchestrator (${flags.name.join(", ")}): certificate ${paths.cert}, key ${paths.key} (mode 0600)`,
      );
    });

  const tokens = ca
    .command("join-token")
    .description("one-time tokens with which runners obtain their certificate");
  tokens
    .command("create")
    .description("make a one-time join token, written to --out (mode 0600); only its hash is kept")
    .option("--dir <dir>", "the CA directory", DEFAULT_CA_DIR)
    .requiredOption(
      "--out <file>",
      "the file to write the token to (give it to the runner: --join-token-file)",
    )
    .option("--node <id>", "the only node id the token may join as (default: any)")
    .option("--ttl <lifetime>", "how long it may be used, e.g. 30m, 1h, 7d", "1h")
    .action(async (flags: { dir: string; out: string; node?: string; ttl: string }) => {
      const { JoinTokens, NODE_ID_PATTERN } = await import("../../security/pki/index.ts");
      const { writeSecretFile } = await import("../../core/secret-file.ts");
      if (flags.node !== undefined && !NODE_ID_PATTERN.test(flags.node))
        throw new UsageError(`--node: found "${flags.node}", expected a node id`);
      const made = new JoinTokens(flags.dir).create({
        ttlMs: parseDuration("--ttl", flags.ttl),
        node: flags.node,
      });
      writeSecretFile(flags.out, `${made.token}\n`, { exclusive: true });
      io.out(made.id);
      io.err(
        `join token ${made.id} written to ${flags.out} (mode 0600), valid until ${made.expiresAt.toISOString()}` +
          (flags.node === undefined ? "" : ` for node ${flags.node} only`),
      );
    });
  tokens
    .command("list")
    .description("the join tokens: id, state (valid, used, expired), expiry, node")
    .option("--dir <dir>", "the CA directory", DEFAULT_CA_DIR)
    .action(async (flags: { dir: string }) => {
      const { JoinTokens } = await import("../../security/pki/index.ts");
      for (const t of new JoinTokens(flags.dir).list())
        io.out(`${t.id}  ${t.state.padEnd(7)}  ${t.expiresAt.toISOString()}  ${t.node ?? "any node"}`);
    });
  tokens
    .command("prune")
    .description("remove used and expired join tokens")
    .option("--dir <dir>", "the CA directory", DEFAULT_CA_DIR)
    .action(async (flags: { dir: string }) => {
      const { JoinTokens } = await import("../../security/pki/index.ts");
      io.err(`${new JoinTokens(flags.dir).prune()} join tokens removed`);
    });
}
