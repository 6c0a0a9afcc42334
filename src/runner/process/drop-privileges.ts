/**
 * Starting a process under a deployment's uid and gid (uids/run-as.ts), with no supplementary
 * groups, from a runner that is root.
 *
 * Without a cgroup, Node's own `uid`/`gid` spawn options do it: libuv's child calls
 * setgroups(0), setgid and setuid before exec. With a cgroup they cannot: the wrapper
 * (cgroups/wrap-command.ts) must enter the group BEFORE the program runs, and a wrapper that was
 * already the deployment's uid could not write the root-owned cgroup.procs (nor, on v2, the
 * common ancestor's). So there the wrapper stays root until it has entered the group, then execs
 * `setpriv` (util-linux), which sets the real, effective and saved uid and gid and clears the
 * groups, and execs the program: the pid stays the same all along, and the program's first
 * instruction runs confined and unprivileged.
 */
import { existsSync } from "node:fs";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { describeRunAs, type RunAs } from "../uids/index.ts";

/** Where setpriv is looked for (util-linux installs it in /usr/bin; older systems in /bin). */
const SETPRIV_PATHS = ["/usr/bin/setpriv", "/bin/setpriv"] as const;

let setprivPath: string | undefined;

/** The path of setpriv; throws FailedPrecondition naming what needs it when there is none. */
export function setpriv(what: string): string {
  setprivPath ??= SETPRIV_PATHS.find((p) => existsSync(p));
  if (setprivPath === undefined) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `${what}: setpriv (util-linux) is needed to start a process under its own uid inside a cgroup, ` +
        `and there is none at ${SETPRIV_PATHS.join(" or ")}; install util-linux`,
    );
  }
  return setprivPath;
}

/** `setpriv --reuid=U --regid=G --clear-groups -- command ...args`: runs `command` as `runAs`. */
export function asUser(
  runAs: RunAs,
  command: string,
  args: readonly string[],
  what = `starting ${command} as ${describeRunAs(runAs)}`,
): { command: string; args: string[] } {
  return {
    command: setpriv(what),
    args: [`--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, "--clear-groups", "--", command, ...args],
  };
}
