/**
 * The failover benchmark's trials, on one FaultCluster (test/faults/failover-kit.ts) with three
 * runners: each trial faults the runner of the current active, times the fault → the first order
 * the gateway accepted from the promoted standby (its audit log), then undoes the fault (restart,
 * SIGCONT, heal) and waits until the cluster is whole again — every runner ready, an active
 * trading, a standby running — before the next trial. Roles rotate over the runners on their own.
 */
import type { AuditRecord } from "../src/gateway/index.ts";
import type { DeploymentView } from "../src/orchestrator/control-plane.ts";
import { sleep, until, type FaultCluster } from "../test/faults/failover-kit.ts";
import { readAudit } from "../src/gateway/index.ts";

/** The faults measured. */
export const FAULTS = ["kill", "freeze", "partition"] as const;
/** One of {@link FAULTS}: SIGKILL; SIGSTOP past the failover then SIGCONT; cut from the orchestrator then heal. */
export type Fault = (typeof FAULTS)[number];

/** One trial's outcome. */
export interface Trial {
  readonly fault: Fault;
  readonly index: number;
  /** Fault → the first order accepted from the promoted standby (ms); null if none came in time. */
  readonly toFirstOrderMs: number | null;
  /** Fault → the gateway fenced the account to the standby (ms). */
  readonly toFenceMs: number | null;
  readonly from: string;
  readonly to: string;
  readonly runner: string;
  readonly error?: string;
}

/** Reads the audit log incrementally (from the last sequence number seen). */
export class AuditTail {
  #seq = 0;
  constructor(private readonly stateDir: string) {}

  /** Records after the last read. */
  next(): AuditRecord[] {
    const rows = readAudit(this.stateDir, { afterSeq: this.#seq });
    const last = rows.at(-1);
    if (last) this.#seq = last.seq;
    return rows;
  }

  /** Skips everything written so far. */
  skip(): void {
    this.next();
  }
}

/** Waits until every runner is ready and the pinger has a running active (trading) and a running standby. */
export async function whole(
  c: FaultCluster,
  tail: AuditTail,
  ms = 30_000,
): Promise<{
  active: DeploymentView;
  standby: DeploymentView;
}> {
  const since = Date.now();
  await until(
    "every runner ready",
    async () => {
      const nodes = await c.api.listNodes().catch(() => []);
      return nodes.filter((n) => n.health === "ready").length === c.runners.length || undefined;
    },
    ms,
  );
  const pair = await until(
    "a running active and standby on two runners",
    async () => {
      const active = await c.role("active");
      const standby = await c.role("standby");
      return active && standby && active.nodeId !== standby.nodeId ? { active, standby } : undefined;
    },
    ms,
  );
  tail.skip();
  await until(
    `${pair.active.id} trading`,
    () =>
      tail
        .next()
        .some(
          (r) =>
            r.kind === "order" &&
            r.outcome === "accepted" &&
            r.deploymentId === pair.active.id &&
            r.decidedAtMs >= since,
        ) || undefined,
    ms,
  );
  return pair;
}

/** Runs one trial of `fault` against the current active; leaves the cluster whole again. */
export async function trial(c: FaultCluster, tail: AuditTail, fault: Fault, index: number): Promise<Trial> {
  const { active, standby } = await whole(c, tail);
  const r = c.runnerOf(active);
  tail.skip();
  let toFirstOrderMs: number | null = null;
  let toFenceMs: number | null = null;
  let error: string | undefined;
  const faultAt = Date.now();
  if (fault === "kill") await r.proc.sigkill();
  else if (fault === "freeze") r.proc.sigstop();
  else await r.ns.cutTo(c.orchestratorHost);
  try {
    await until(
      `the first order from ${standby.id}`,
      () => {
        for (const x of tail.next()) {
          if (x.deploymentId !== standby.id || x.decidedAtMs < faultAt) continue;
          if (x.kind === "fence" && x.outcome === "fenced" && toFenceMs === null)
            toFenceMs = x.decidedAtMs - faultAt;
          if (x.kind === "order" && x.outcome === "accepted") {
            toFirstOrderMs = x.decidedAtMs - faultAt;
            return true;
          }
        }
        return undefined;
      },
      20_000,
    );
  } catch (err) {
    error = String(err);
  } finally {
    // Undo the fault whatever happened; the old instance must not outlive the trial.
    if (fault === "kill") r.proc = c.startRunner(r);
    else if (fault === "freeze") r.proc.sigcont();
    else await r.ns.heal(c.orchestratorHost);
  }
  await until(
    `${active.id} stopped`,
    async () => {
      const d = await c.deployment(active.id);
      return d === undefined || (d.phase !== "running" && d.phase !== "starting") || undefined;
    },
    30_000,
  ).catch((err: unknown) => (error ??= String(err)));
  await sleep(50);
  return {
    fault,
    index,
    toFirstOrderMs,
    toFenceMs,
    from: active.id,
    to: standby.id,
    runner: r.nodeId,
    ...(error === undefined ? {} : { error }),
  };
}

/** p50/p99/max (nearest rank) of the samples, in ms. */
export function percentiles(samples: readonly number[]): {
  n: number;
  p50: number;
  p99: number;
  max: number;
} {
  const s = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? Number.NaN;
  return { n: s.length, p50: rank(0.5), p99: rank(0.99), max: s.at(-1) ?? Number.NaN };
}
