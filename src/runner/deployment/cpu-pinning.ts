import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/**
 * Which whole cores a live deployment is pinned to. The node's usable CPUs are split in two: the
 * first ones stay shared (the OS, the runner itself, the post office's threads, unpinned
 * services), the rest may be handed out, each to one deployment at a time. Pure bookkeeping; the
 * cgroup's cpuset does the pinning.
 */
export class CpuPinning {
  private readonly owner = new Map<number, string>();
  /** CPUs that may be pinned, lowest first. */
  readonly pinnable: readonly number[];

  /**
   * @param cpus the CPUs this runner may use (from its cpuset), in any order
   * @param exclusiveCapacity how many of them may be pinned; the lowest-numbered others stay shared
   */
  constructor(cpus: readonly number[], exclusiveCapacity: number) {
    const sorted = [...new Set(cpus)].sort((a, b) => a - b);
    if (exclusiveCapacity > sorted.length) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `exclusive cores: found ${exclusiveCapacity}, expected at most the node's ${sorted.length} CPUs`,
      );
    }
    this.pinnable = sorted.slice(sorted.length - exclusiveCapacity);
  }

  /** Pins `count` free cores to `deploymentId`; throws FailedPrecondition if not enough are free. */
  pin(deploymentId: string, count: number): number[] {
    if (count === 0) return [];
    const free = this.pinnable.filter((cpu) => !this.owner.has(cpu));
    if (free.length < count) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${deploymentId} needs ${count} pinned core(s); ${free.length} of ${this.pinnable.length} pinnable are free`,
      );
    }
    const chosen = free.slice(0, count);
    for (const cpu of chosen) this.owner.set(cpu, deploymentId);
    return chosen;
  }

  /** Marks cores as pinned to a deployment that already runs on them (re-adoption). */
  restore(deploymentId: string, cpus: readonly number[]): void {
    for (const cpu of cpus) if (this.pinnable.includes(cpu)) this.owner.set(cpu, deploymentId);
  }

  /** Frees a deployment's cores. */
  release(deploymentId: string): void {
    for (const [cpu, id] of this.owner) if (id === deploymentId) this.owner.delete(cpu);
  }

  /** The cores pinned to a deployment. */
  pinnedTo(deploymentId: string): number[] {
    return [...this.owner].filter(([, id]) => id === deploymentId).map(([cpu]) => cpu);
  }

  /** Pinnable cores not pinned to anyone. */
  get free(): number {
    return this.pinnable.length - this.owner.size;
  }
}
