/**
 * A replayable schedule of cut/heal cycles. The whole schedule is a pure function of its seed and
 * options, so a failing run prints one line (`HIVE_FAULT_SEED=<seed> ...`) and re-running with
 * that variable set replays the same cuts at the same offsets.
 */
import { randomInt } from "node:crypto";
import { ErrorCode, HiveError } from "../../../src/core/hive-error.ts";
import { seededRandom } from "../../../src/core/seeded-random.ts";

/** The environment variable that pins the seed. */
export const FAULT_SEED_ENV = "HIVE_FAULT_SEED";

/** A closed [min, max] range of milliseconds. */
export interface MsRange {
  readonly minMs: number;
  readonly maxMs: number;
}

/** Options of seededSchedule. */
export interface ScheduleOptions<T = string> {
  readonly seed: number;
  readonly cycles: number;
  /** How long each cut lasts. */
  readonly cut: MsRange;
  /** The healthy gap before each cut. */
  readonly gap: MsRange;
  /** What each cut targets, drawn per cycle (e.g. ["orchestrator", "gateway"], or one). */
  readonly targets: readonly T[];
}

/** One cycle: healthy for gapMs, then cut `target` for cutMs. Offsets are from the start. */
export interface FaultStep<T = string> {
  readonly index: number;
  readonly target: T;
  readonly gapMs: number;
  readonly cutAtMs: number;
  readonly cutMs: number;
  readonly healAtMs: number;
}

/** A schedule and how to replay it. */
export interface FaultSchedule<T = string> {
  readonly seed: number;
  readonly steps: readonly FaultStep<T>[];
  /** When the last heal happens. */
  readonly totalMs: number;
  /** One line to print on failure: the seed to replay with, then the steps. */
  describe(): string;
}

/** The seed from HIVE_FAULT_SEED (decimal or 0x hex), or a fresh random one. */
export function faultSeed(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[FAULT_SEED_ENV]?.trim();
  if (raw === undefined || raw === "") return randomInt(0, 2 ** 32 - 1);
  const seed = Number(raw);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new HiveError(ErrorCode.InvalidArgument, `${FAULT_SEED_ENV}=${raw}: want an integer in [0, 2^32)`);
  return seed;
}

function checkRange(name: string, r: MsRange): void {
  if (!(Number.isInteger(r.minMs) && Number.isInteger(r.maxMs) && r.minMs >= 0 && r.minMs <= r.maxMs))
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `schedule ${name}: want integers 0 <= minMs <= maxMs, got ${JSON.stringify(r)}`,
    );
}

/** Builds the schedule for a seed: a pure function, the same steps for the same inputs. */
export function seededSchedule<T = string>(options: ScheduleOptions<T>): FaultSchedule<T> {
  checkRange("cut", options.cut);
  checkRange("gap", options.gap);
  if (!Number.isInteger(options.cycles) || options.cycles < 0)
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `schedule cycles: want an integer >= 0, got ${options.cycles}`,
    );
  const targets = options.targets;
  if (targets.length === 0)
    throw new HiveError(ErrorCode.InvalidArgument, "schedule targets: want at least one");
  const random = seededRandom(options.seed);
  const draw = (r: MsRange): number => r.minMs + Math.floor(random() * (r.maxMs - r.minMs + 1));
  const steps: FaultStep<T>[] = [];
  let at = 0;
  for (let index = 0; index < options.cycles; index++) {
    // Fixed draw order (gap, cut, target) is part of the replay contract: do not reorder.
    const gapMs = draw(options.gap);
    const cutMs = draw(options.cut);
    const target = targets[Math.floor(random() * targets.length)] as T;
    const cutAtMs = at + gapMs;
    steps.push({ index, target, gapMs, cutAtMs, cutMs, healAtMs: cutAtMs + cutMs });
    at = cutAtMs + cutMs;
  }
  return {
    seed: options.seed,
    steps,
    totalMs: at,
    describe: () =>
      `${FAULT_SEED_ENV}=${options.seed} (${options.cycles} cycles, ${at} ms): ` +
      steps.map((s) => `${String(s.target)}@${s.cutAtMs}+${s.cutMs}`).join(" "),
  };
}

/** What runSchedule does at each step. */
export interface ScheduleActions<T> {
  cut(target: T, step: FaultStep<T>): Promise<void>;
  heal(target: T, step: FaultStep<T>): Promise<void>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Plays a schedule against real faults. Waits are relative (a step's gap and length), so a slow
 * `cut` shifts later steps instead of compressing them. The current cut is always healed, even
 * when aborted or when `cut` throws.
 */
export async function runSchedule<T>(
  schedule: FaultSchedule<T>,
  actions: ScheduleActions<T>,
  signal?: AbortSignal,
): Promise<void> {
  for (const step of schedule.steps) {
    await sleep(step.gapMs, signal);
    try {
      await actions.cut(step.target, step);
      await sleep(step.cutMs, signal);
    } finally {
      await actions.heal(step.target, step);
    }
  }
}
