/**
 * Runs the host commands the fault library needs (`ip`, mostly), async for tests and sync for the
 * process-exit hook, which cannot wait for a promise. A failed command throws a CommandError that
 * keeps argv and stderr, so a caller can branch on "File exists" without parsing a message.
 */
import { spawn, spawnSync } from "node:child_process";
import { ErrorCode, HiveError } from "../../../src/core/hive-error.ts";

/** What a finished command produced. `code` is null when it was ended by a signal. */
export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A host command that exited non-zero, could not start, or ran past its time limit. */
export class CommandError extends HiveError {
  override readonly name = "CommandError";

  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult | undefined,
    options?: { cause?: unknown },
  ) {
    const why = result
      ? `exited ${result.code ?? result.signal ?? "?"}: ${result.stderr.trim() || result.stdout.trim()}`
      : "could not start";
    super(ErrorCode.FailedPrecondition, `command \`${argv.join(" ")}\` ${why}`, options);
  }

  /** The kernel said the thing exists already (EEXIST). */
  get exists(): boolean {
    return /File exists/i.test(this.result?.stderr ?? "");
  }
}

/** Bound on one host command; `ip` answers in milliseconds, so this only catches a hang. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** Runs argv and resolves with its result whatever its exit code; rejects only if it cannot start. */
export function runCommand(argv: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new HiveError(ErrorCode.InvalidArgument, "empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", (err) => reject(new CommandError(argv, undefined, { cause: err })));
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs argv and returns stdout; throws CommandError unless it exits 0. */
export async function mustRun(argv: readonly string[], timeoutMs?: number): Promise<string> {
  const result = await runCommand(argv, timeoutMs);
  if (result.code !== 0) throw new CommandError(argv, result);
  return result.stdout;
}

/** The synchronous twin of runCommand, for exit hooks; never throws. */
export function runCommandSync(argv: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): CommandResult {
  const [file, ...args] = argv;
  if (file === undefined) return { code: null, signal: null, stdout: "", stderr: "empty argv" };
  const r = spawnSync(file, args, { encoding: "utf8", timeout: timeoutMs });
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout ?? "",
    stderr: r.stderr ?? (r.error ? r.error.message : ""),
  };
}

/** Sends a signal to a pid or (negative) process group; false if it no longer exists. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}
