/**
 * The CLI's context file, in the style of kubeconfig: which orchestrators this user talks to and
 * with which token and CA. `~/.config/hive/config` (or `$XDG_CONFIG_HOME/hive/config`), or the
 * file HIVE_CONFIG names:
 *
 *   current-context: dev
 *   contexts:
 *     - name: dev
 *       server: http://127.0.0.1:7071
 *       token-file: /home/me/hive/.hive/dev/admin.token   # 0600
 *     - name: prod
 *       server: https://hive.desk.example:7071
 *       ca-file: /etc/hive/ca.pem          # the CA that signed the orchestrator's certificate
 *       token: hive_<id>_<secret>          # inline: then this file itself must be 0600
 *
 * Updates keep the rest of the file (other contexts, comments) as it was, and write it 0600.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseDocument, type Document } from "yaml";
import { z } from "zod";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { readSecretFile, writeSecretFile } from "../core/secret-file.ts";

const contextSchema = z.object({
  name: z.string().min(1),
  server: z.string().min(1),
  "ca-file": z.string().min(1).optional(),
  "token-file": z.string().min(1).optional(),
  token: z.string().min(1).optional(),
});

const configSchema = z.object({
  "current-context": z.string().optional(),
  contexts: z.array(contextSchema).default([]),
});

/** One context: an orchestrator, and how to talk to it. */
export type CliContext = z.output<typeof contextSchema>;

/** The context file as read. */
export interface CliConfig {
  /** Where it was read from (it may not exist). */
  readonly path: string;
  readonly currentContext: string | undefined;
  readonly contexts: readonly CliContext[];
}

/** The context file's path: HIVE_CONFIG, else $XDG_CONFIG_HOME/hive/config, else ~/.config/hive/config. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HIVE_CONFIG) return env.HIVE_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "hive", "config");
}

/** The largest context file read: a real one is a few hundred bytes per context. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function loadDocument(path: string): Document {
  if (!existsSync(path)) return parseDocument("");
  const size = statSync(path).size;
  if (size > MAX_CONFIG_BYTES)
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${path}: ${size} bytes, expected a hive context file of at most ${MAX_CONFIG_BYTES} bytes`,
    );
  const doc = parseDocument(readFileSync(path, "utf8"));
  if (doc.errors.length > 0) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${path}: ${doc.errors[0]?.message ?? "not YAML"}, expected a hive context file (current-context, contexts)`,
    );
  }
  return doc;
}

function check(path: string, doc: Document): z.output<typeof configSchema> {
  let value: unknown;
  try {
    value = doc.toJS() ?? {};
  } catch (err) {
    // The yaml library's own refusals, such as "Excessive alias count" (an alias bomb).
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${path}: ${err instanceof Error ? err.message : String(err)}, expected a hive context file (current-context, contexts)`,
      { cause: err },
    );
  }
  const parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${path}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}, expected contexts of name, server, and optionally ca-file, token-file or token`,
    );
  }
  return parsed.data;
}

/** Reads the context file (an absent one is empty). */
export function loadConfig(path: string = configPath()): CliConfig {
  const data = check(path, loadDocument(path));
  return { path, currentContext: data["current-context"], contexts: data.contexts };
}

/** The token a context names (its token-file, which must be 0600, or inline with a 0600 config file). */
export function contextToken(config: CliConfig, context: CliContext): string | undefined {
  if (context["token-file"] !== undefined) {
    return readSecretFile(`context ${context.name}: token-file`, context["token-file"]).trim();
  }
  if (context.token !== undefined) {
    readSecretFile(`context ${context.name} holds its token inline, so its file`, config.path);
    return context.token;
  }
  return undefined;
}

/**
 * Adds or replaces the context of that name, keeping every other one; makes it the current
 * context only when none is set. Returns whether it became the current one.
 */
export function saveContext(context: CliContext, path: string = configPath()): { current: boolean } {
  const doc = loadDocument(path);
  const data = check(path, doc);
  const index = data.contexts.findIndex((c) => c.name === context.name);
  const entry = doc.createNode(context);
  if (index === -1) {
    if (!doc.has("contexts")) doc.set("contexts", doc.createNode([]));
    doc.addIn(["contexts"], entry);
  } else {
    doc.setIn(["contexts", index], entry);
  }
  const current = data["current-context"];
  if (current === undefined || current === "") doc.set("current-context", context.name);
  writeSecretFile(path, doc.toString());
  return { current: current === undefined || current === "" || current === context.name };
}
