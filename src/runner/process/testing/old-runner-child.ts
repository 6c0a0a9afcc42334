/**
 * Test fixture: plays a runner that starts one process and then dies. Run as
 * `node --import tsx old-runner-child.ts '<json>'`; it spawns the process with a state
 * directory (so a record is written), prints `{"pid": <pid>}` and exits at once, leaving the
 * process running without its parent, as after a runner crash.
 */
import type { CgroupLimits } from "../../cgroups/cgroup.ts";
import { detectCgroups } from "../../cgroups/detect-cgroups.ts";
import { spawnManaged } from "../spawn-managed.ts";

/** What the test asks the "old runner" to start. */
export interface OldRunnerJob {
  readonly parent: string | undefined;
  readonly deploymentId: string;
  readonly command: string;
  readonly args: string[];
  readonly limits: CgroupLimits | undefined;
  readonly logDir: string;
  readonly stateDir: string;
}

const job = JSON.parse(process.argv[2] ?? "{}") as OldRunnerJob;
const driver = job.parent === undefined ? undefined : await detectCgroups({ parent: job.parent });
const cgroup = driver && job.limits ? await driver.create(job.deploymentId, job.limits) : undefined;
const p = await spawnManaged({
  deploymentId: job.deploymentId,
  command: job.command,
  args: job.args,
  env: {},
  logDir: job.logDir,
  stateDir: job.stateDir,
  graceMs: 300,
  ...(cgroup && driver ? { cgroup, driver } : {}),
});
process.stdout.write(`${JSON.stringify({ pid: p.pid })}\n`);
process.exit(0);
