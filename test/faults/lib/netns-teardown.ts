/**
 * Taking a test namespace apart, and finding what a crashed run left behind. The plan is a pure
 * function from "what exists" to a list of `ip` commands, run by an async shell (`destroy()`,
 * `sweepStaleNamespaces`) or a sync one (the exit hook), so both remove exactly the same things.
 *
 * Ordering rule: processes die first (a process inside keeps the namespace alive after
 * `ip netns del`), then the root-side rules and addresses, then the veth (which removes the
 * pair and every route through it), then the namespace's name.
 */
import { pidAlive } from "../../../src/runner/process/process-identity.ts";
import { runCommand, runCommandSync, signalQuietly } from "./command.ts";
import {
  DEFAULT_PREFIX,
  ownerPid,
  slotOfHostVeth,
  slotOfLabel,
  slotOfTable,
  TABLE_BASE,
  vethNames,
} from "./netns-layout.ts";

/** One `ip -j rule show` entry (only the fields we read). */
export interface RuleEntry {
  readonly priority?: number;
  readonly src?: string;
  readonly srclen?: number;
  readonly dst?: string;
  readonly dstlen?: number;
  readonly table?: string;
}

/** What a namespace owns, as far as teardown needs to know. */
export interface Teardownable {
  readonly name: string;
  readonly slot: number | undefined;
  readonly extraAddresses: readonly string[];
}

/** The argv that deletes one rule, exactly as `ip -j rule show` described it. */
export function ruleDeleteArgv(rule: RuleEntry): string[] {
  const argv = ["ip", "rule", "del"];
  if (rule.priority !== undefined) argv.push("pref", String(rule.priority));
  if (rule.src !== undefined && rule.src !== "all") argv.push("from", `${rule.src}/${rule.srclen ?? 32}`);
  if (rule.dst !== undefined && rule.dst !== "all") argv.push("to", `${rule.dst}/${rule.dstlen ?? 32}`);
  if (rule.table !== undefined) argv.push("lookup", rule.table);
  return argv;
}

/** The commands that remove a namespace and everything it added to the root namespace. */
export function teardownPlan(ns: Teardownable, rules: readonly RuleEntry[]): string[][] {
  const plan: string[][] = [];
  if (ns.slot !== undefined) {
    const table = String(TABLE_BASE + ns.slot);
    for (const rule of rules) if (rule.table === table) plan.push(ruleDeleteArgv(rule));
    plan.push(["ip", "route", "flush", "table", table]);
  }
  for (const address of ns.extraAddresses) plan.push(["ip", "addr", "del", `${address}/32`, "dev", "lo"]);
  if (ns.slot !== undefined) plan.push(["ip", "link", "del", vethNames(ns.slot).host]);
  plan.push(["ip", "netns", "del", ns.name]);
  return plan;
}

function parseJson<T>(text: string): T[] {
  try {
    const value: unknown = JSON.parse(text || "[]");
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** SIGKILLs every process in the namespace (the list is read from the kernel, not from our books). */
export async function killNamespacePids(name: string): Promise<void> {
  const r = await runCommand(["ip", "netns", "pids", name]);
  for (const pid of parsePids(r.stdout)) signalQuietly(pid, "SIGKILL");
}

/** Removes a namespace and its root-side pieces; best effort, each step independent of the others. */
export async function teardown(ns: Teardownable): Promise<void> {
  await killNamespacePids(ns.name);
  const rules = parseJson<RuleEntry>((await runCommand(["ip", "-j", "rule", "show"])).stdout);
  for (const argv of teardownPlan(ns, rules)) await runCommand(argv);
}

/** The synchronous twin of teardown, for the exit hook. */
export function teardownSync(ns: Teardownable): void {
  for (const pid of parsePids(runCommandSync(["ip", "netns", "pids", ns.name]).stdout))
    signalQuietly(pid, "SIGKILL");
  const rules = parseJson<RuleEntry>(runCommandSync(["ip", "-j", "rule", "show"]).stdout);
  for (const argv of teardownPlan(ns, rules)) runCommandSync(argv);
}

/** What a sweep removed. */
export interface SweepReport {
  namespaces: string[];
  links: string[];
  addresses: string[];
  rules: number;
}

interface LinkEntry {
  readonly ifname?: string;
  readonly ifalias?: string;
}
interface AddrEntry {
  readonly addr_info?: { local?: string; prefixlen?: number; label?: string; family?: string }[];
}

/**
 * Removes namespaces named `<prefix><pid>-...` whose pid is dead, their veths, and every `lo`
 * address and `ip rule` of ours whose slot no longer has a veth. Live namespaces of other test
 * processes (running in parallel) are left alone.
 *
 * Ordering rule: addresses and rules are listed BEFORE the links. An owner adds them after its
 * veth exists and removes them before deleting it, so anything listed whose veth is absent from
 * the later link list is an orphan (barring a new claim of the same slot in between: a window of
 * a few milliseconds, accepted for a test tool).
 */
export async function sweepStaleNamespaces(prefix: string = DEFAULT_PREFIX): Promise<SweepReport> {
  const report: SweepReport = { namespaces: [], links: [], addresses: [], rules: 0 };
  const isStaleOwner = (nsName: string | undefined): boolean => {
    if (nsName === undefined) return false;
    const pid = ownerPid(prefix, nsName);
    return pid !== undefined && !pidAlive(pid);
  };

  const namespaces = parseJson<{ name?: string }>((await runCommand(["ip", "-j", "netns", "list"])).stdout);
  for (const { name } of namespaces) {
    if (name === undefined || !isStaleOwner(name)) continue;
    await killNamespacePids(name);
    await runCommand(["ip", "netns", "del", name]);
    report.namespaces.push(name);
  }

  const addrs = parseJson<AddrEntry>((await runCommand(["ip", "-j", "addr", "show", "dev", "lo"])).stdout);
  const rules = parseJson<RuleEntry>((await runCommand(["ip", "-j", "rule", "show"])).stdout);
  const links = parseJson<LinkEntry>((await runCommand(["ip", "-j", "link", "show"])).stdout);

  const liveSlots = new Set<number>();
  for (const link of links) {
    const slot = link.ifname === undefined ? undefined : slotOfHostVeth(link.ifname);
    if (slot === undefined || link.ifname === undefined) continue;
    if (isStaleOwner(link.ifalias)) {
      await runCommand(["ip", "link", "del", link.ifname]);
      report.links.push(link.ifname);
    } else {
      liveSlots.add(slot);
    }
  }
  for (const info of addrs.flatMap((a) => a.addr_info ?? [])) {
    const slot = info.label === undefined ? undefined : slotOfLabel(info.label);
    if (slot === undefined || liveSlots.has(slot) || info.local === undefined) continue;
    await runCommand(["ip", "addr", "del", `${info.local}/${info.prefixlen ?? 32}`, "dev", "lo"]);
    report.addresses.push(info.local);
  }
  for (const rule of rules) {
    const slot = rule.table === undefined ? undefined : slotOfTable(rule.table);
    if (slot === undefined || liveSlots.has(slot)) continue;
    await runCommand(ruleDeleteArgv(rule));
    report.rules++;
  }
  return report;
}
