/**
 * An in-memory ProcessLauncher for tests of the runner's logic and for the mock runner: nothing
 * is spawned. A test ends a fake process with `exit(code, signal)` (or `oom()`), and stop() and
 * kill() end it as the real one would, after the fake's chosen grace behaviour.
 */
import { ErrorCode, HiveError } from "../../../core/hive-error.ts";
import type { Cgroup } from "../../cgroups/cgroup.ts";
import type { AdoptOptions } from "../adopt-process.ts";
import { classifyExit, type ExitCause, type ExitStatus } from "../exit-status.ts";
import type { ManagedProcess } from "../managed-process.ts";
import type { ProcessLauncher } from "../process-launcher.ts";
import type { ProcessRecord } from "../process-record.ts";
import { isTerminal, type ProcessState } from "../process-state.ts";
import type { SpawnSpec } from "../spawn-spec.ts";

/** A fake supervised process. */
export class FakeProcess implements ManagedProcess {
  readonly startedAt = new Date();
  readonly exited: Promise<ExitStatus>;
  /** Whether stop() ends it at once (true, as a well-behaved process) or only after the grace (false). */
  honoursSigterm = true;
  /** Every signal it was sent, in order. */
  readonly signals: NodeJS.Signals[] = [];
  private current: ProcessState = "running";
  private resolve: (status: ExitStatus) => void = () => undefined;

  constructor(
    readonly deploymentId: string,
    readonly pid: number,
    readonly spec: SpawnSpec | undefined,
    readonly adopted = false,
  ) {
    this.exited = new Promise((resolve) => (this.resolve = resolve));
  }

  get state(): ProcessState {
    return this.current;
  }

  get cgroup(): Cgroup | undefined {
    return this.spec?.cgroup;
  }

  /** Ends it on its own, as if it exited with `code` or died of `signal`. */
  exit(code: number | null, signal: string | null = null, cause: ExitCause = "self"): void {
    if (isTerminal(this.current)) return;
    const limit = this.cgroup?.limits.memoryBytes;
    this.end(
      classifyExit({
        code,
        signal,
        cause,
        oomKilled: false,
        ...(limit === undefined ? {} : { memoryLimitBytes: limit }),
      }),
    );
  }

  /** Ends it as the kernel's OOM killer would. */
  oom(): void {
    if (isTerminal(this.current)) return;
    const limit = this.cgroup?.limits.memoryBytes;
    this.end(
      classifyExit({
        code: null,
        signal: "SIGKILL",
        cause: "self",
        oomKilled: true,
        ...(limit === undefined ? {} : { memoryLimitBytes: limit }),
      }),
    );
  }

  stop(graceMs = this.spec?.graceMs ?? 5_000): Promise<ExitStatus> {
    if (isTerminal(this.current)) return this.exited;
    this.current = "stopping";
    this.signals.push("SIGTERM");
    if (this.honoursSigterm) {
      this.end(classifyExit({ code: 0, signal: null, cause: "stop", oomKilled: false }));
    } else {
      this.signals.push("SIGKILL");
      this.end(
        classifyExit({ code: null, signal: "SIGKILL", cause: "stop-escalated", oomKilled: false, graceMs }),
      );
    }
    return this.exited;
  }

  kill(): Promise<ExitStatus> {
    if (isTerminal(this.current)) return this.exited;
    this.signals.push("SIGKILL");
    this.end(classifyExit({ code: null, signal: "SIGKILL", cause: "kill", oomKilled: false }));
    return this.exited;
  }

  private end({ state, status }: { state: ProcessState; status: ExitStatus }): void {
    this.current = state;
    this.resolve(status);
  }
}

/** The fake launcher; it hands out pids from 10000 up and remembers every process. */
export class FakeProcessLauncher implements ProcessLauncher {
  /** Every process it started or adopted, in order. */
  readonly processes: FakeProcess[] = [];
  /** Commands that fail to start, as if they did not exist. */
  readonly missingCommands = new Set<string>();
  private nextPid = 10_000;

  spawn(spec: SpawnSpec): Promise<ManagedProcess> {
    if (this.missingCommands.has(spec.command)) {
      return Promise.reject(
        new HiveError(ErrorCode.FailedPrecondition, `cannot start ${JSON.stringify(spec.command)}: ENOENT`),
      );
    }
    const process = new FakeProcess(spec.deploymentId, this.nextPid++, spec);
    this.processes.push(process);
    return Promise.resolve(process);
  }

  adopt(record: ProcessRecord, _options?: AdoptOptions): Promise<ManagedProcess> {
    const process = new FakeProcess(record.deploymentId, record.pid, undefined, true);
    this.processes.push(process);
    return Promise.resolve(process);
  }

  /** The latest process of a deployment. */
  find(deploymentId: string): FakeProcess | undefined {
    return this.processes.findLast((p) => p.deploymentId === deploymentId);
  }
}
