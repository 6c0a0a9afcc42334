/**
 * Real processes for fault tests: a node/tsx child in its own process group, its output as lines
 * (JSON lines parsed), waits bounded by a timeout, signals to the whole group (SIGKILL, SIGSTOP,
 * SIGCONT), and a registry that kills whatever is still alive — from `afterEach`, and from an exit
 * hook if the test process dies first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { ErrorCode, HiveError } from "../../../src/core/hive-error.ts";
import { signalQuietly } from "./command.ts";
import { onExitSync } from "./exit-hooks.ts";
import type { Namespace } from "./netns.ts";

/** How a process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One line of output. `json` is the parsed line when it is a JSON object, else undefined. */
export interface OutputLine {
  /** Position among all lines of the process (both streams), from 0. */
  readonly index: number;
  readonly stream: "stdout" | "stderr";
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

/** Options of ProcessRegistry.start / startCommand. */
export interface StartOptions {
  readonly args?: readonly string[];
  /** Added to (and overriding) the parent's environment. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Run inside this network namespace. */
  readonly netns?: Pick<Namespace, "spawn">;
  /** For messages; defaults to the file or command name. */
  readonly name?: string;
  /** Lines kept for waitForLine and `lines` (older ones are dropped). Default 10 000. */
  readonly maxLines?: number;
}

/** Bound on waiting for a SIGKILLed process to be reaped. */
const REAP_TIMEOUT_MS = 5_000;

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A child process in its own process group (pgid = pid), with its output captured as lines. */
export class ManagedProcess {
  /** The pid, which is also the process group id. */
  readonly pid: number;
  /** Resolves when the process has exited (its output may still be draining). */
  readonly exited: Promise<ExitInfo>;
  private readonly kept: OutputLine[] = [];
  private total = 0;
  private exitInfo: ExitInfo | undefined;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    private readonly maxLines: number,
  ) {
    // Without a listener, a failed spawn's 'error' would crash the test process.
    child.once("error", (err) => this.push("stderr", `spawn error: ${err.message}`));
    if (child.pid === undefined) throw new HiveError(ErrorCode.Internal, `${name}: spawn failed, no pid`);
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    for (const stream of ["stdout", "stderr"] as const) {
      const readable = child[stream];
      if (readable)
        createInterface({ input: readable, crlfDelay: Infinity }).on("line", (t) => this.push(stream, t));
    }
    // 'close' comes after 'exit' and after both streams ended: no more lines can come.
    child.once("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  /** How it ended, or undefined while it runs. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** Whether the group leader is still running. */
  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  /** The lines kept (the last `maxLines`). */
  get lines(): readonly OutputLine[] {
    return this.kept;
  }

  /** The index the next line will have; pass it as `since` to wait only for later lines. */
  get lineCount(): number {
    return this.total;
  }

  /** The last n lines, joined, for assertion messages. */
  tail(n = 30): string {
    return this.kept
      .slice(-n)
      .map((l) => `${l.stream}: ${l.text}`)
      .join("\n");
  }

  /**
   * Resolves with the first line (index >= since, default 0) matching the predicate; rejects if
   * the process ends without one or the timeout passes. The message carries the output's tail.
   */
  waitForLine(
    predicate: (line: OutputLine) => boolean,
    timeoutMs: number,
    options: { since?: number } = {},
  ): Promise<OutputLine> {
    const since = options.since ?? 0;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.kept.find((l) => l.index >= since && predicate(l));
        if (hit) {
          done();
          resolve(hit);
          return true;
        }
        if (this.closed) {
          done();
          reject(this.error(`exited (${JSON.stringify(this.exitInfo)}) without a matching line`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(this.error(`no matching line within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(onLine);
      };
      const onLine = (): void => void check();
      if (!check()) this.waiters.add(onLine);
    });
  }

  /** SIGKILLs the whole group and resolves when the leader is reaped. */
  async sigkill(): Promise<ExitInfo> {
    signalQuietly(-this.pid, "SIGKILL");
    return this.exited;
  }

  /** Freezes the whole group (SIGSTOP): it holds its sockets open but does nothing. */
  sigstop(): void {
    signalQuietly(-this.pid, "SIGSTOP");
  }

  /** Thaws the whole group (SIGCONT). */
  sigcont(): void {
    signalQuietly(-this.pid, "SIGCONT");
  }

  /**
   * Sends `signal` (default SIGTERM) to the leader, which is expected to stop its own children;
   * SIGKILLs the group if it has not exited within timeoutMs. Any member left after the leader
   * exits is SIGKILLed too.
   */
  async stopGracefully(
    timeoutMs = 5_000,
    signal: NodeJS.Signals = "SIGTERM",
  ): Promise<ExitInfo & { escalated: boolean }> {
    let escalated = false;
    if (this.alive) {
      signalQuietly(this.pid, signal);
      signalQuietly(-this.pid, "SIGCONT"); // a stopped process would never see the signal
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
      if ((await Promise.race([this.exited, timedOut])) === "timeout") {
        escalated = true;
        signalQuietly(-this.pid, "SIGKILL");
      }
      clearTimeout(timer);
    }
    const info = await this.exited;
    signalQuietly(-this.pid, "SIGKILL");
    return { ...info, escalated };
  }

  private push(stream: "stdout" | "stderr", text: string): void {
    this.kept.push({ index: this.total++, stream, text, json: parseJsonObject(text) });
    if (this.kept.length > this.maxLines) this.kept.splice(0, this.kept.length - this.maxLines);
    this.wake();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private error(what: string): HiveError {
    return new HiveError(
      ErrorCode.FailedPrecondition,
      `${this.name} (pid ${this.pid}): ${what}\n${this.tail()}`,
    );
  }
}

/** The `--import` target for TypeScript children, resolved from here so any cwd works. */
const TSX_LOADER = import.meta.resolve("tsx");

/** Starts processes and kills every one still alive on killAll() (and at process exit). */
export class ProcessRegistry {
  private readonly started = new Set<ManagedProcess>();

  constructor() {
    onExitSync(() => {
      for (const p of this.started) signalQuietly(-p.pid, "SIGKILL");
    });
  }

  /** Starts `node --import tsx <file> ...args` (a .ts or .js file). */
  start(file: string, options: StartOptions = {}): ManagedProcess {
    return this.startCommand([process.execPath, "--import", TSX_LOADER, file], { name: file, ...options });
  }

  /** Starts any argv (plus options.args) in its own process group. */
  startCommand(argv: readonly string[], options: StartOptions = {}): ManagedProcess {
    const full = [...argv, ...(options.args ?? [])];
    const env = { ...process.env, ...options.env };
    const stdio = ["ignore", "pipe", "pipe"] as const;
    let child: ChildProcess;
    if (options.netns) {
      child = options.netns.spawn(full, { env, cwd: options.cwd, stdio: [...stdio] });
    } else {
      const [file, ...args] = full;
      if (file === undefined) throw new HiveError(ErrorCode.InvalidArgument, "startCommand: empty argv");
      child = spawn(file, args, { env, cwd: options.cwd, stdio: [...stdio], detached: true });
    }
    const proc = new ManagedProcess(options.name ?? full[0] ?? "?", child, options.maxLines ?? 10_000);
    this.started.add(proc);
    return proc;
  }

  /** Processes started and not yet cleaned up by killAll. */
  get all(): readonly ManagedProcess[] {
    return [...this.started];
  }

  /** SIGKILLs every group started here (stragglers of exited leaders too) and waits for the reaping. */
  async killAll(): Promise<void> {
    const procs = [...this.started];
    this.started.clear();
    for (const p of procs) signalQuietly(-p.pid, "SIGKILL");
    await Promise.race([
      Promise.all(procs.map((p) => p.exited)),
      new Promise((r) => setTimeout(r, REAP_TIMEOUT_MS).unref()),
    ]);
  }
}

/** The default registry: `afterEach(() => processes.killAll())`. */
export const processes = new ProcessRegistry();

/** Resolves once `child` has exited (at once if it already has). */
export async function exitOf(child: ChildProcess): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null)
    return { code: child.exitCode, signal: child.signalCode };
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  return { code, signal };
}
