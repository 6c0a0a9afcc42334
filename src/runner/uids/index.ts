/**
 * Strategies without root: each deployment runs under a uid and gid of its own from the runner's
 * range (uid-allocator.ts), in directories it owns (owned-dir.ts), and a spawn whose command or
 * working directory that uid cannot reach is refused with the path (access-check.ts). Where the
 * runner is not root none of this is enforced and it says so at start (runner.ts).
 * See docs/security.md, "Strategies without root".
 */
export { describeRunAs, runsAsRoot, type RunAs } from "./run-as.ts";
export {
  assertUidRange,
  DEFAULT_UID_RANGE,
  MAX_DEPLOYMENT_UID,
  UidAllocator,
  type UidRange,
} from "./uid-allocator.ts";
export { cannotExecute, deniedTo, granted, type Access } from "./access-check.ts";
export { handOver, makeOwnedDir, OWNED_DIR_MODE, PASS_THROUGH_DIR_MODE } from "./owned-dir.ts";
export { prepareRunnerDirectories, PRIVATE_DIR_MODE, type RunnerDirectories } from "./runner-directories.ts";
export { uidUsers, type UidUser } from "./uid-users.ts";
