/**
 * The identity a deployment's process runs under: its own uid, and a gid of the same number (a
 * group of its own, with no members and no name), with no supplementary groups. Nothing else on
 * the node shares either, so the kernel's owner checks keep one deployment's files, sockets and
 * /proc entries from every other deployment's.
 */

/** A uid and gid a process is started under. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** `uid 20001 (gid 20001)`: how errors and logs name an identity. */
export function describeRunAs(runAs: RunAs): string {
  return `uid ${runAs.uid} (gid ${runAs.gid})`;
}

/** Whether this process is root (effective uid 0): only root can start others under another uid. */
export function runsAsRoot(): boolean {
  return process.geteuid?.() === 0;
}
