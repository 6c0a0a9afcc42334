/**
 * A network namespace for fault tests, joined to the root namespace by a veth pair on a private
 * /30, with real partitions:
 *
 * - `cutTo(ip)`: a silent, two-way cut between the namespace and one root-side address. Inside,
 *   a /32 route sends packets for `ip` to a next hop whose MAC is nobody's; outside, a policy rule
 *   sends packets from `ip` to the namespace the same way. Frames are dropped by the receiving
 *   veth: no RST, no ICMP, no local error. Established connections stall; new connects hang.
 * - `cut("all")`: the same for every destination (the namespace keeps only its loopback).
 * - `isolate()`: the namespace's end of the veth goes down. Established connections stall, but
 *   the kernel also flushes the routes, so a new connect fails at once with ENETUNREACH.
 * - `heal(ip | "all")` undoes them; cuts survive isolation and come back when it is healed.
 *
 * Services in the root namespace must bind to the address being cut (`hostAddress`, or one from
 * `addHostAddress()`) — a cut is keyed on the service's address, so the orchestrator and the
 * gateway must listen on different addresses to be cut apart.
 */
import { spawn as spawnChild, type ChildProcess, type StdioOptions } from "node:child_process";
import { once } from "node:events";
import { isIPv4 } from "node:net";
import { ErrorCode, HiveError } from "../../../src/core/hive-error.ts";
import { CommandError, mustRun, runCommand, signalQuietly, type CommandResult } from "./command.ts";
import { onExitSync } from "./exit-hooks.ts";
import {
  addressLabel,
  DEAD_HOP,
  DEFAULT_PREFIX,
  EXTRA_ADDRESSES_PER_SLOT,
  extraAddress,
  namespaceName,
  RULE_PRIORITY,
  SLOT_COUNT,
  slotAddresses,
  TABLE_BASE,
  vethNames,
} from "./netns-layout.ts";
import { sweepStaleNamespaces, teardown, teardownSync, type Teardownable } from "./netns-teardown.ts";

/** Options of Namespace.exec. */
export interface NsExecOptions {
  /** Kill the command after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** Throw a CommandError on a non-zero exit (default true). */
  readonly check?: boolean;
}

/** Options of Namespace.spawn. */
export interface NsSpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Default: stdin ignored, stdout and stderr piped. */
  readonly stdio?: StdioOptions;
}

/** A destination of cut/heal: an IPv4 address in the root namespace, or "all" for everything. */
export type CutTarget = string;

/** A test network namespace; see the file comment for what each fault does. */
export interface Namespace {
  /** The namespace's name (`ip netns exec <name>`). */
  readonly name: string;
  /** The namespace's address on the veth. */
  readonly nsAddress: string;
  /** The root side's address on the veth; the namespace's default gateway. */
  readonly hostAddress: string;
  /** The veth names: `host` in the root namespace, `ns` inside. */
  readonly veth: { readonly host: string; readonly ns: string };
  /** Runs argv inside the namespace to completion. */
  exec(argv: readonly string[], options?: NsExecOptions): Promise<CommandResult>;
  /** Starts argv inside the namespace, in its own process group; destroy() kills it. */
  spawn(argv: readonly string[], options?: NsSpawnOptions): ChildProcess;
  /** Adds a /32 on the root namespace's `lo`, reachable from the namespace; returns the address. */
  addHostAddress(): Promise<string>;
  /** Silently cuts the namespace from one root-side address, both ways. */
  cutTo(ip: string): Promise<void>;
  /** cutTo(ip), or a silent cut of every destination for "all". */
  cut(target: CutTarget): Promise<void>;
  /** Takes the namespace's end of the veth down. */
  isolate(): Promise<void>;
  /** Heals one cut, or every cut and the isolation ("all", the default). */
  heal(target?: CutTarget): Promise<void>;
  /** The faults in force now. */
  faults(): { readonly cuts: readonly string[]; readonly all: boolean; readonly isolated: boolean };
  /** Kills its processes and removes the namespace, veth, addresses and rules. Idempotent. */
  destroy(): Promise<void>;
}

/** Namespaces of this process not yet destroyed, for the exit hook. */
const live = new Map<string, Teardownable>();
let removeExitHook: (() => void) | undefined;
let swept: Promise<unknown> | undefined;
let sequence = 0;

function track(ns: Teardownable): void {
  live.set(ns.name, ns);
  removeExitHook ??= onExitSync(() => {
    for (const entry of live.values()) teardownSync(entry);
    live.clear();
  });
}

const ip = (...args: string[]): Promise<string> => mustRun(["ip", ...args]);

/**
 * Creates a namespace named `hivet-<pid>-<name>` (name defaults to a counter). The first call in
 * a process sweeps what crashed runs left behind. Slots are claimed by creating the veth, retrying
 * the next slot on EEXIST, so parallel test processes never share addresses.
 */
export async function createNamespace(name?: string): Promise<Namespace> {
  const suffix = name ?? String(sequence++);
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(suffix))
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `namespace name ${JSON.stringify(suffix)}: want [a-z0-9-]`,
    );
  swept ??= sweepStaleNamespaces(DEFAULT_PREFIX).catch(() => undefined);
  await swept;

  const state = {
    name: namespaceName(DEFAULT_PREFIX, process.pid, suffix),
    slot: undefined as number | undefined,
  };
  const extraAddresses: string[] = [];
  const entry: Teardownable = {
    name: state.name,
    get slot() {
      return state.slot;
    },
    extraAddresses,
  };
  try {
    await ip("netns", "add", state.name);
  } catch (err) {
    if (err instanceof CommandError && err.exists)
      throw new HiveError(ErrorCode.AlreadyExists, `namespace ${state.name} exists already`, { cause: err });
    throw err;
  }
  track(entry);
  try {
    state.slot = await claimSlot(state.name);
    const slot = state.slot;
    const { hostAddress, nsAddress, prefixLen } = slotAddresses(slot);
    const veth = vethNames(slot);
    await ip("link", "set", veth.host, "alias", state.name);
    await ip("addr", "add", `${hostAddress}/${prefixLen}`, "dev", veth.host);
    await ip("link", "set", veth.host, "up");
    await ip("-n", state.name, "addr", "add", `${nsAddress}/${prefixLen}`, "dev", veth.ns);
    await ip("-n", state.name, "link", "set", veth.ns, "up");
    await ip("-n", state.name, "link", "set", "lo", "up");
    await ip("-n", state.name, "route", "add", "default", "via", hostAddress);
    return new NamespaceHandle(entry, slot, extraAddresses);
  } catch (err) {
    live.delete(entry.name);
    await teardown(entry);
    throw err;
  }
}

async function claimSlot(nsName: string): Promise<number> {
  const start = (process.pid * 37 + sequence * 7) % SLOT_COUNT;
  for (let i = 0; i < 256; i++) {
    const slot = (start + i) % SLOT_COUNT;
    const veth = vethNames(slot);
    try {
      await ip("link", "add", veth.host, "type", "veth", "peer", "name", veth.ns, "netns", nsName);
    } catch (err) {
      if (err instanceof CommandError && err.exists) continue;
      throw err;
    }
    // The slot is ours now, so anything left under its table is a crashed run's: clear it.
    await runCommand(["ip", "route", "flush", "table", String(TABLE_BASE + slot)]);
    return slot;
  }
  throw new HiveError(ErrorCode.Unavailable, "no free namespace slot after 256 tries (run the sweep?)");
}

class NamespaceHandle implements Namespace {
  readonly name: string;
  readonly nsAddress: string;
  readonly hostAddress: string;
  readonly veth: { readonly host: string; readonly ns: string };
  private readonly children = new Set<ChildProcess>();
  private readonly cuts = new Set<string>();
  private all = false;
  private isolated = false;
  /** What is installed now, so reconcile() only adds and removes the difference. */
  private readonly nsRoutes = new Set<string>();
  private readonly hostRules = new Map<string, string[]>();
  private destroying: Promise<void> | undefined;

  constructor(
    private readonly entry: Teardownable,
    private readonly slot: number,
    private readonly extraAddresses: string[],
  ) {
    this.name = entry.name;
    ({ hostAddress: this.hostAddress, nsAddress: this.nsAddress } = slotAddresses(slot));
    this.veth = vethNames(slot);
  }

  async exec(argv: readonly string[], options: NsExecOptions = {}): Promise<CommandResult> {
    this.assertLive();
    const full = ["ip", "netns", "exec", this.name, ...argv];
    const result = await runCommand(full, options.timeoutMs);
    if ((options.check ?? true) && result.code !== 0) throw new CommandError(full, result);
    return result;
  }

  spawn(argv: readonly string[], options: NsSpawnOptions = {}): ChildProcess {
    this.assertLive();
    // `ip netns exec` execs argv in place, so the child's pid is the program's own; detached
    // makes it a session and process group leader, so -pid signals it and all its children.
    const child = spawnChild("ip", ["netns", "exec", this.name, ...argv], {
      detached: true,
      stdio: options.stdio ?? ["ignore", "pipe", "pipe"],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    child.once("error", () => this.children.delete(child));
    return child;
  }

  async addHostAddress(): Promise<string> {
    this.assertLive();
    const k = this.extraAddresses.length;
    if (k >= EXTRA_ADDRESSES_PER_SLOT)
      throw new HiveError(ErrorCode.FailedPrecondition, `${this.name}: at most ${k} extra host addresses`);
    const address = extraAddress(this.slot, k);
    // Recorded before it exists, so a failure half-way is still cleaned up.
    this.extraAddresses.push(address);
    const add = ["addr", "add", `${address}/32`, "dev", "lo", "label", addressLabel(this.slot)];
    try {
      await ip(...add);
    } catch (err) {
      if (!(err instanceof CommandError && err.exists)) throw err;
      // Our slot, so the address is a crashed run's leftover: take it over.
      await ip("addr", "del", `${address}/32`, "dev", "lo");
      await ip(...add);
    }
    return address;
  }

  async cutTo(ip4: string): Promise<void> {
    this.assertLive();
    if (!isIPv4(ip4)) throw new HiveError(ErrorCode.InvalidArgument, `cutTo(${ip4}): want an IPv4 address`);
    this.cuts.add(ip4);
    await this.reconcile();
  }

  async cut(target: CutTarget): Promise<void> {
    if (target !== "all") return this.cutTo(target);
    this.assertLive();
    this.all = true;
    await this.reconcile();
  }

  async isolate(): Promise<void> {
    this.assertLive();
    if (this.isolated) return;
    await ip("-n", this.name, "link", "set", this.veth.ns, "down");
    this.isolated = true;
    // The kernel flushed every route through the link, ours included.
    this.nsRoutes.clear();
  }

  async heal(target: CutTarget = "all"): Promise<void> {
    this.assertLive();
    if (target === "all") {
      this.cuts.clear();
      this.all = false;
      if (this.isolated) {
        await ip("-n", this.name, "link", "set", this.veth.ns, "up");
        await ip("-n", this.name, "route", "replace", "default", "via", this.hostAddress);
        this.isolated = false;
      }
    } else {
      this.cuts.delete(target);
    }
    await this.reconcile();
  }

  faults(): { readonly cuts: readonly string[]; readonly all: boolean; readonly isolated: boolean } {
    return { cuts: [...this.cuts], all: this.all, isolated: this.isolated };
  }

  /** Makes the installed routes and rules match cuts/all; ns-side routes wait while isolated. */
  private async reconcile(): Promise<void> {
    const table = String(TABLE_BASE + this.slot);
    const wantRoutes = new Set([...this.cuts].map((c) => `${c}/32`));
    if (this.all) for (const r of ["0.0.0.0/1", "128.0.0.0/1", `${this.hostAddress}/32`]) wantRoutes.add(r);
    const wantRules = new Map<string, string[]>();
    for (const c of this.cuts)
      wantRules.set(c, ["pref", String(RULE_PRIORITY), "from", `${c}/32`, "to", `${this.nsAddress}/32`]);
    // One priority below, since a rule without `from` counts as equal to one with it (EEXIST).
    if (this.all) wantRules.set("all", ["pref", String(RULE_PRIORITY - 1), "to", `${this.nsAddress}/32`]);

    if (wantRules.size > 0) {
      await ip(
        "neigh",
        "replace",
        DEAD_HOP.hostSide,
        "lladdr",
        DEAD_HOP.mac,
        "dev",
        this.veth.host,
        "nud",
        "permanent",
      );
      await ip(
        "route",
        "replace",
        `${this.nsAddress}/32`,
        "via",
        DEAD_HOP.hostSide,
        "dev",
        this.veth.host,
        "onlink",
        "table",
        table,
      );
    }
    for (const [key, spec] of wantRules) {
      if (this.hostRules.has(key)) continue;
      await ip("rule", "add", ...spec, "lookup", table);
      this.hostRules.set(key, spec);
    }
    for (const [key, spec] of this.hostRules) {
      if (wantRules.has(key)) continue;
      await ip("rule", "del", ...spec, "lookup", table);
      this.hostRules.delete(key);
    }

    if (this.isolated) return;
    const n = ["-n", this.name];
    if (wantRoutes.size > 0)
      await ip(
        ...n,
        "neigh",
        "replace",
        DEAD_HOP.nsSide,
        "lladdr",
        DEAD_HOP.mac,
        "dev",
        this.veth.ns,
        "nud",
        "permanent",
      );
    for (const dest of wantRoutes) {
      if (this.nsRoutes.has(dest)) continue;
      await ip(...n, "route", "replace", dest, "via", DEAD_HOP.nsSide, "dev", this.veth.ns, "onlink");
      this.nsRoutes.add(dest);
    }
    for (const dest of this.nsRoutes) {
      if (wantRoutes.has(dest)) continue;
      await ip(...n, "route", "del", dest);
      this.nsRoutes.delete(dest);
    }
  }

  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    const exits = [...this.children].map((child) =>
      child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, "exit"),
    );
    for (const child of this.children) if (child.pid !== undefined) signalQuietly(-child.pid, "SIGKILL");
    live.delete(this.name);
    await teardown(this.entry);
    // SIGKILL cannot be ignored, so this only waits for the kernel to reap; bounded all the same.
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5_000).unref())]);
  }

  private assertLive(): void {
    if (this.destroying)
      throw new HiveError(ErrorCode.FailedPrecondition, `namespace ${this.name} is destroyed`);
  }
}
