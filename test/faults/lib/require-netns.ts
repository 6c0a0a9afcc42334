/**
 * Whether this machine can run the namespace fault tests, so a test can skip with the reason on
 * a laptop and fail loudly in CI (CI=true runs as root and must not silently skip them).
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { runCommand, type CommandResult } from "./command.ts";
import { DEFAULT_PREFIX, namespaceName } from "./netns-layout.ts";

/** The answer of requireNetns. */
export type NetnsSupport = { readonly ok: true } | { readonly ok: false; readonly why: string };

let cached: Promise<NetnsSupport> | undefined;

function describeFailure(what: string, r: CommandResult): string {
  return `${what} failed (exit ${r.code ?? r.signal ?? "?"}): ${r.stderr.trim() || "no stderr"}`;
}

async function probe(): Promise<NetnsSupport> {
  if (process.platform !== "linux")
    return { ok: false, why: `network namespaces need Linux, not ${process.platform}` };
  if (process.getuid?.() !== 0) return { ok: false, why: "network namespace tests need root (uid 0)" };
  const name = namespaceName(DEFAULT_PREFIX, process.pid, "probe");
  const veth = `hvtp${process.pid}`;
  try {
    let add: CommandResult;
    try {
      add = await runCommand(["ip", "netns", "add", name]);
    } catch (err) {
      return { ok: false, why: `cannot run \`ip\` (is iproute2 installed?): ${String(err)}` };
    }
    if (add.code !== 0) return { ok: false, why: describeFailure("`ip netns add`", add) };
    const exec = await runCommand(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"]);
    if (exec.code !== 0) return { ok: false, why: describeFailure("`ip netns exec`", exec) };
    const link = await runCommand([
      "ip",
      "link",
      "add",
      veth,
      "type",
      "veth",
      "peer",
      "name",
      `${veth}n`,
      "netns",
      name,
    ]);
    if (link.code !== 0) return { ok: false, why: describeFailure("creating a veth pair", link) };
    return { ok: true };
  } finally {
    await runCommand(["ip", "link", "del", veth]).catch(() => undefined);
    await runCommand(["ip", "netns", "del", name]).catch(() => undefined);
  }
}

/** Checks (once per process) that we are root and can create a namespace and a veth pair. */
export function requireNetns(): Promise<NetnsSupport> {
  cached ??= probe();
  return cached;
}

/**
 * The gate at the top of a namespace test: true to go on; otherwise skips the test with the
 * reason, or fails it with the reason when CI=true.
 */
export function netnsUsable(t: TestContext, support: NetnsSupport): boolean {
  if (support.ok) return true;
  if (process.env.CI === "true") assert.fail(`CI=true, so this test must run, but: ${support.why}`);
  t.skip(support.why);
  return false;
}
