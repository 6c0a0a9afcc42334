/**
 * The runner's uid range: it hands each deployment on the node a uid of its own (and the gid of
 * the same number, see run-as.ts), takes it back when the deployment is released, and takes back
 * the uids of re-adopted deployments from their records after a restart, so that no uid is handed
 * to a second deployment while the first one lives.
 *
 * Ordering rule: scanning starts at a cursor that moves past the last uid handed out, so a uid
 * just released is not handed out again until the range has gone round once: what a deployment
 * may have left behind under its uid (a file in /tmp, a straggling process the kernel has not
 * reaped yet) is not inherited at once by the next one.
 *
 * The range is the runner's alone: runners sharing a machine (`hive dev`) need ranges that do not
 * overlap (docs/security.md).
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { RunAs } from "./run-as.ts";

/** The highest uid the range may hold: 2^32 - 2 (2^32 - 1 is (uid_t)-1, "no change"). */
export const MAX_DEPLOYMENT_UID = 2 ** 32 - 2;

/** The default range, as in runner-options.ts. */
export const DEFAULT_UID_RANGE = { first: 20_000, last: 29_999 } as const;

/** A range of uids, both ends included. */
export interface UidRange {
  readonly first: number;
  readonly last: number;
}

/** Throws InvalidArgument, naming the range, unless 1 <= first <= last <= 2^32 - 2. */
export function assertUidRange(range: UidRange): void {
  const { first, last } = range;
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_DEPLOYMENT_UID;
  if (!ok(first) || !ok(last) || last < first) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `deployment uid range ${first}-${last} is invalid: expected whole numbers 1..${MAX_DEPLOYMENT_UID} ` +
        `(never 0, root) with first <= last`,
    );
  }
}

/** Hands out the uids of one range to deployments; see the file comment. */
export class UidAllocator {
  readonly first: number;
  readonly last: number;
  readonly #byOwner = new Map<string, number>();
  readonly #byUid = new Map<number, string>();
  #cursor: number;

  constructor(range: UidRange) {
    assertUidRange(range);
    this.first = range.first;
    this.last = range.last;
    this.#cursor = range.first;
  }

  /** Uids in the range. */
  get size(): number {
    return this.last - this.first + 1;
  }

  /** How many uids are held now. */
  get held(): number {
    return this.#byUid.size;
  }

  /**
   * The uid of `owner`: the one it holds already, else the next free one after the cursor.
   * Throws FailedPrecondition, naming the range, when every uid is held.
   */
  allocate(owner: string): RunAs {
    const had = this.#byOwner.get(owner);
    if (had !== undefined) return { uid: had, gid: had };
    if (this.#byUid.size >= this.size) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `no free deployment uid for ${owner}: all ${this.size} uids of the range ${this.first}-${this.last} ` +
          `are held by deployments on this node; widen the runner's deploymentUids range or release one`,
      );
    }
    let uid = this.#cursor;
    while (this.#byUid.has(uid)) uid = uid === this.last ? this.first : uid + 1;
    this.#take(owner, uid);
    this.#cursor = uid === this.last ? this.first : uid + 1;
    return { uid, gid: uid };
  }

  /**
   * Takes `runAs.uid` for `owner` again (a deployment re-adopted after a restart). Throws
   * FailedPrecondition when the uid is outside the range (the range was changed meanwhile) or
   * held by another owner.
   */
  reserve(owner: string, runAs: RunAs): void {
    const { uid } = runAs;
    if (uid < this.first || uid > this.last || runAs.gid !== uid) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${owner} runs as uid ${uid} (gid ${runAs.gid}), outside this runner's deployment uid range ` +
          `${this.first}-${this.last}`,
      );
    }
    const holder = this.#byUid.get(uid);
    if (holder !== undefined && holder !== owner) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `uid ${uid} of ${owner} is held by ${holder} already`,
      );
    }
    this.#take(owner, uid);
  }

  /** Gives back the uid `owner` holds, if any. */
  release(owner: string): void {
    const uid = this.#byOwner.get(owner);
    if (uid === undefined) return;
    this.#byOwner.delete(owner);
    this.#byUid.delete(uid);
  }

  /** The uid `owner` holds, if any. */
  uidOf(owner: string): number | undefined {
    return this.#byOwner.get(owner);
  }

  /** Who holds `uid`, if anybody. */
  holderOf(uid: number): string | undefined {
    return this.#byUid.get(uid);
  }

  #take(owner: string, uid: number): void {
    this.#byOwner.set(owner, uid);
    this.#byUid.set(uid, owner);
  }
}
