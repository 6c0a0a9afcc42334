/**
 * What to start, and how: `SpawnSpec` as callers write it, `compileSpawnSpec` to check it and
 * fill defaults, `CompiledSpawnSpec` as the supervisor uses it (after Temporal's
 * XOptions → compileXOptions → CompiledXOptions).
 *
 * The environment is explicit: the process gets exactly `env` (the strategy contract of
 * DESIGN.md §4), not the runner's own environment, which may hold the runner's credentials and
 * settings. Only PATH, HOME and LANG are taken from the runner when `env` does not set them, so
 * that ordinary programs (a shell script, python3) find their tools and locale.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Cgroup, CgroupDriver } from "../cgroups/cgroup.ts";
import { assertCgroupName } from "../cgroups/limit-checks.ts";
import { assertUidRange, type RunAs } from "../uids/index.ts";

/** The variables taken from the runner's environment when the spec does not set them. */
export const INHERITED_ENV = ["PATH", "HOME", "LANG"] as const;

/** PATH when neither the spec nor the runner has one. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The default log cap per stream: 10 MiB. */
export const DEFAULT_LOG_CAP_BYTES = 10 * 2 ** 20;

/** The default grace period between SIGTERM and SIGKILL. */
export const DEFAULT_GRACE_MS = 5_000;

/** The default interval of the log size check. */
export const DEFAULT_LOG_CHECK_MS = 250;

/** A process to start. */
export interface SpawnSpec {
  /** The deployment this process is; names its log directory and state record. */
  readonly deploymentId: string;
  /** The executable: a path, or a name looked up in env.PATH. */
  readonly command: string;
  /** Its arguments. */
  readonly args?: readonly string[];
  /** The FULL environment of the process (see the file comment for PATH, HOME and LANG). */
  readonly env: Readonly<Record<string, string>>;
  /** Its working directory; default the runner's. */
  readonly cwd?: string;
  /** The group to run it in (made by `driver`); without it, no limits apply. */
  readonly cgroup?: Cgroup;
  /** The driver that made `cgroup`; it wraps the command so the process starts inside the group. */
  readonly driver?: CgroupDriver;
  /** Logs go to `<logDir>/<deploymentId>/{stdout,stderr}.log`. */
  readonly logDir: string;
  /** Bytes per log file before it is rotated to `.1`; default 10 MiB. */
  readonly logCapBytes?: number;
  /** How often log sizes are checked, in ms; default 250. */
  readonly logCheckIntervalMs?: number;
  /** SIGTERM → SIGKILL grace period of stop(), in ms; default 5000. */
  readonly graceMs?: number;
  /** If set, a ProcessRecord is kept in this directory while the process runs (see README.md). */
  readonly stateDir?: string;
  /**
   * The uid and gid to run it under, with no supplementary groups (drop-privileges.ts); the
   * runner must be root. Default: the runner's own.
   */
  readonly runAs?: RunAs;
}

/** A checked SpawnSpec with defaults filled in. */
export interface CompiledSpawnSpec {
  readonly deploymentId: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | undefined;
  readonly cgroup: Cgroup | undefined;
  readonly driver: CgroupDriver | undefined;
  readonly logDir: string;
  readonly logCapBytes: number;
  readonly logCheckIntervalMs: number;
  readonly graceMs: number;
  readonly stateDir: string | undefined;
  readonly runAs: RunAs | undefined;
}

/** Checks a spec (naming the field that is wrong) and fills its defaults. */
export function compileSpawnSpec(
  spec: SpawnSpec,
  runnerEnv: NodeJS.ProcessEnv = process.env,
): CompiledSpawnSpec {
  const bad = (field: string, expected: string, value: unknown): never => {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `invalid spawn spec for deployment ${JSON.stringify(spec.deploymentId)}: ${field}=${JSON.stringify(value)}, expected ${expected}`,
    );
  };
  assertCgroupName(spec.deploymentId, "deployment id");
  if (spec.command === "") bad("command", "an executable", spec.command);
  if (spec.cgroup && !spec.driver) bad("driver", "the cgroup driver that made the cgroup", undefined);
  if (spec.runAs !== undefined) {
    // Never root, never (uid_t)-1: the same bounds as the runner's range.
    const { uid, gid } = spec.runAs;
    try {
      assertUidRange({ first: uid, last: uid });
      assertUidRange({ first: gid, last: gid });
    } catch {
      bad("runAs", "a uid and gid in 1..4294967294", spec.runAs);
    }
  }
  const number = (field: string, value: number | undefined, fallback: number, min = 1): number => {
    if (value === undefined) return fallback;
    return Number.isFinite(value) && value >= min ? value : bad(field, `a number of at least ${min}`, value);
  };
  for (const [key, value] of Object.entries(spec.env)) {
    if (key === "" || key.includes("=") || key.includes("\0") || value.includes("\0")) {
      bad(`env.${key}`, "a name without '=' and values without NUL", value);
    }
  }
  return {
    deploymentId: spec.deploymentId,
    command: spec.command,
    args: [...(spec.args ?? [])],
    env: buildEnv(spec.env, runnerEnv),
    cwd: spec.cwd,
    cgroup: spec.cgroup,
    driver: spec.driver,
    logDir: spec.logDir,
    logCapBytes: number("logCapBytes", spec.logCapBytes, DEFAULT_LOG_CAP_BYTES),
    logCheckIntervalMs: number("logCheckIntervalMs", spec.logCheckIntervalMs, DEFAULT_LOG_CHECK_MS),
    graceMs: number("graceMs", spec.graceMs, DEFAULT_GRACE_MS, 0),
    stateDir: spec.stateDir,
    runAs: spec.runAs,
  };
}

/** `given` plus PATH, HOME and LANG from the runner where `given` lacks them; nothing else. */
export function buildEnv(
  given: Readonly<Record<string, string>>,
  runnerEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = runnerEnv[name] ?? (name === "PATH" ? DEFAULT_PATH : undefined);
    if (!(name in given) && value !== undefined) env[name] = value;
  }
  return { ...env, ...given };
}
