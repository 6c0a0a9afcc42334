/**
 * Test support for what a runner says and does when it starts: a real runner (createRunner) of
 * the given config, registered with a {@link FakeOrchestrator} it shares with nobody, its log lines
 * captured as parsed JSON. The caller starts it (so it can check the machine first) and closes
 * both in a `finally` with `close()`.
 */
import { pino } from "pino";
import type { Runner } from "../runner.ts";
import { createRunner } from "../create-runner.ts";
import type { RunnerDeps } from "../runner-deps.ts";
import { compileRunnerOptions, type RunnerConfig } from "../runner-options.ts";
import { FakeOrchestrator } from "./fake-orchestrator.ts";

/** A runner (not started yet), its orchestrator and its log lines. */
export interface RunnerAtStart {
  readonly runner: Runner;
  readonly stub: FakeOrchestrator;
  /** Every line the runner logged at info level or above, parsed. */
  readonly lines: Record<string, unknown>[];
  /** Closes the runner (stopping its deployments) and then the orchestrator. */
  readonly close: () => Promise<void>;
}

/** Creates a runner of `config` (its orchestrators: a new FakeOrchestrator) with `deps`; see the file's header. */
export async function runnerAtStart(
  config: Omit<RunnerConfig, "orchestrators">,
  deps: Omit<Partial<RunnerDeps>, "log">,
): Promise<RunnerAtStart> {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "info" },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const stub = await FakeOrchestrator.start({ heartbeatIntervalMs: 50 });
  try {
    const runner = await createRunner(compileRunnerOptions({ ...config, orchestrators: [stub.url] }), {
      ...deps,
      log,
    });
    return {
      runner,
      stub,
      lines,
      close: async () => {
        await runner.close({ stopDeployments: true });
        await stub.close();
      },
    };
  } catch (err) {
    await stub.close();
    throw err;
  }
}
