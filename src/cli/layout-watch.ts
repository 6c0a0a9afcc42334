/**
 * Watching a layout come up, for `hive apply`: polls the orchestrator until the layout runs (or
 * has already completed: a quick backtest can finish between two looks) or the time is up, and reports every deployment whose phase changed since the last look.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ControlPlane, DeploymentView, LayoutView } from "../orchestrator/control-plane.ts";

/** Options of {@link watchLayout}. */
export interface WatchOptions {
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** Time between two looks; default 200 ms. */
  readonly intervalMs?: number;
  /** Called for a deployment seen for the first time or in a new phase; `elapsedMs` since the start. */
  readonly onChange?: (deployment: DeploymentView, elapsedMs: number) => void;
}

/** How the watch ended. */
export interface WatchResult {
  /** The last look at the layout. */
  readonly layout: LayoutView;
  /** Whether it reached `running` (or `completed`) in time. */
  readonly running: boolean;
  readonly elapsedMs: number;
}

/** Polls `getLayout(name)` until its state is `running` or `completed`, or `timeoutMs` pass. */
export async function watchLayout(
  control: Pick<ControlPlane, "getLayout">,
  name: string,
  options: WatchOptions,
): Promise<WatchResult> {
  const start = performance.now();
  const interval = options.intervalMs ?? 200;
  const seen = new Map<string, string>();
  for (;;) {
    const layout = await control.getLayout(name);
    const elapsedMs = performance.now() - start;
    for (const d of layout.deployments) {
      const key = `${d.phase} ${d.nodeId ?? ""}`;
      if (seen.get(d.id) === key) continue;
      seen.set(d.id, key);
      options.onChange?.(d, elapsedMs);
    }
    if (layout.state === "running" || layout.state === "completed")
      return { layout, running: true, elapsedMs };
    const left = options.timeoutMs - elapsedMs;
    if (left <= 0) return { layout, running: false, elapsedMs };
    await sleep(Math.min(interval, left));
  }
}
