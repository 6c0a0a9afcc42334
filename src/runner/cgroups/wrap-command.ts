/**
 * Running a command inside a cgroup from node, which has no pre-exec hook.
 *
 * Why a wrapper: a process must be in its cgroup BEFORE it starts running the real program. If
 * the runner spawned the program and then wrote its pid to cgroup.procs, the program could fork
 * in between, and that child (and everything it starts) would stay outside the group: no memory
 * limit, no pinning, and killAll could not find it. So the runner spawns `/bin/sh`, which writes
 * its own pid ($$) to every hierarchy's cgroup.procs and only then `exec`s the program: the pid
 * stays the same, and every descendant inherits the group from the first instruction.
 *
 * If a write fails the shell prints why on stderr and exits with WRAPPER_FAILED_EXIT_CODE
 * without running the program, so nothing ever runs outside its limits by accident.
 */
import type { WrappedCommand } from "./cgroup.ts";

/** The exit code of the wrapper when it could not enter the group (like env(1) and nice(1)). */
export const WRAPPER_FAILED_EXIT_CODE = 125;

/** Quotes a string for /bin/sh: single quotes, with embedded ones spelled '\''. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * `/bin/sh -c '<enter every procs file>; exec "$0" "$@"' command ...args`. The command and its
 * arguments travel as separate argv entries ($0 and $@), never through the script text, so they
 * need no quoting and cannot inject anything.
 */
export function wrapInCgroup(
  procsFiles: readonly string[],
  command: string,
  args: readonly string[],
  label: string,
): WrappedCommand {
  if (procsFiles.length === 0) return { command, args: [...args] };
  const enter = procsFiles.map((f) => `echo $$ > ${shellQuote(f)}`).join(" && ");
  const fail = `echo ${shellQuote(`hive: cannot enter cgroup ${label}; not starting`)} "$0" >&2; exit ${WRAPPER_FAILED_EXIT_CODE}`;
  const script = `${enter} || { ${fail}; }; exec "$0" "$@"`;
  return { command: "/bin/sh", args: ["-c", script, command, ...args] };
}
