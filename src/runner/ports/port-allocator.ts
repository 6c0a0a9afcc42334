/**
 * The runner's port range: it hands ports to deployments (owners), never one that is allocated
 * already nor one that anybody else on the machine is using, and takes them back on exit.
 *
 * Ordering rules:
 * - allocations are serialised: each one sees the table as the previous one left it, so two
 *   concurrent spawns can never get the same port even though probing is asynchronous;
 * - scanning starts at a cursor that moves past the last port handed out, so a port just
 *   released is not handed out again until the range has gone round once — a peer that still
 *   has the old address cached does not reach a new, unrelated service.
 *
 * A probe proves a port free at one moment; the owner binds it a little later. A process that
 * grabs it in between makes the owner's bind fail with EADDRINUSE, and the spawn is retried.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { SystemPortProbe, type PortProbe } from "./port-probe.ts";

/** Options of a {@link PortAllocator}. */
export interface PortAllocatorOptions {
  /** First port of the range, included. */
  readonly first: number;
  /** Last port of the range, included. */
  readonly last: number;
  /** The address the owners will bind (and the probe binds to test a port); 0.0.0.0 by default. */
  readonly host?: string;
  /** How to tell ports taken by others; the real machine by default. */
  readonly probe?: PortProbe;
}

/** The ports one owner holds. */
export interface PortAllocation {
  readonly owner: string;
  readonly ports: readonly number[];
}

/** Allocates ports from the runner's range; see the file comment for its ordering rules. */
export class PortAllocator {
  /** First port of the range, included. */
  readonly first: number;
  /** Last port of the range, included. */
  readonly last: number;
  /** The address ports are probed on. */
  readonly host: string;
  private readonly probe: PortProbe;
  private readonly owners = new Map<string, number[]>();
  private readonly taken = new Set<number>();
  private cursor: number;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(options: PortAllocatorOptions) {
    const { first, last } = options;
    if (!isPort(first) || !isPort(last) || last < first) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `port range ${first}-${last} is invalid: expected whole numbers 1..65535 with first <= last`,
      );
    }
    this.first = first;
    this.last = last;
    this.host = options.host ?? "0.0.0.0";
    this.probe = options.probe ?? new SystemPortProbe();
    this.cursor = first;
  }

  /** Ports in the range. */
  get size(): number {
    return this.last - this.first + 1;
  }

  /**
   * Allocates `count` ports to `owner` (added to any it holds already) and returns them in the
   * order found. Throws failed_precondition, naming the range, if not enough are free.
   */
  allocate(owner: string, count: number): Promise<number[]> {
    if (!Number.isInteger(count) || count < 0) {
      return Promise.reject(
        new HiveError(
          ErrorCode.InvalidArgument,
          `cannot allocate ${count} ports to ${owner}: expected a count >= 0`,
        ),
      );
    }
    return this.serialise(() => this.allocateNow(owner, count));
  }

  /**
   * Records ports an owner already holds without probing them (a process re-adopted after a
   * runner restart is listening on them). Throws if one is outside the range or held by another.
   */
  reserve(owner: string, ports: readonly number[]): void {
    for (const port of ports) {
      if (port < this.first || port > this.last) {
        throw new HiveError(
          "invalid_argument",
          `port ${port} of ${owner} is outside the range ${this.first}-${this.last}`,
        );
      }
      const holder = [...this.owners].find(([o, list]) => o !== owner && list.includes(port))?.[0];
      if (holder !== undefined)
        throw new HiveError("already_exists", `port ${port} of ${owner} is held by ${holder}`);
    }
    const held = this.owners.get(owner) ?? [];
    for (const port of ports) {
      if (!held.includes(port)) held.push(port);
      this.taken.add(port);
    }
    this.owners.set(owner, held);
  }

  /** Frees every port of `owner` and returns them (empty if it held none). */
  release(owner: string): number[] {
    const ports = this.owners.get(owner) ?? [];
    for (const port of ports) this.taken.delete(port);
    this.owners.delete(owner);
    return ports;
  }

  /** The ports `owner` holds. */
  portsOf(owner: string): readonly number[] {
    return this.owners.get(owner) ?? [];
  }

  /** Every owner and its ports. */
  inUse(): PortAllocation[] {
    return [...this.owners].map(([owner, ports]) => ({ owner, ports: [...ports] }));
  }

  /** Ports of the range not allocated by us (some may still be in use by other processes). */
  free(): number {
    return this.size - this.taken.size;
  }

  private async allocateNow(owner: string, count: number): Promise<number[]> {
    if (count === 0) return [];
    const listening = await this.probe.listening();
    const found: number[] = [];
    let busyElsewhere = 0;
    let port = this.cursor;
    let scanned = 0;
    // Candidates are probed a batch at a time, in parallel: a bind-and-close costs a few event
    // loop turns, and a spawn usually needs two or three ports.
    while (scanned < this.size && found.length < count) {
      const batch: number[] = [];
      while (scanned < this.size && batch.length < count - found.length) {
        const candidate = port;
        port = candidate === this.last ? this.first : candidate + 1;
        scanned++;
        if (this.taken.has(candidate)) continue;
        if (listening.has(candidate)) {
          busyElsewhere++;
          continue;
        }
        batch.push(candidate);
      }
      const bindable = await Promise.all(batch.map((p) => this.probe.canBind(p, this.host)));
      batch.forEach((p, i) => (bindable[i] ? found.push(p) : busyElsewhere++));
    }
    if (found.length < count) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `port range ${this.first}-${this.last} on ${this.host} is exhausted: ${owner} asked for ${count} ` +
          `port(s), ${found.length} free; ${this.taken.size} allocated to ${this.owners.size} owner(s), ` +
          `${busyElsewhere} in use by other processes (expected a wider range or fewer ports per service)`,
      );
    }
    this.cursor = port;
    for (const p of found) this.taken.add(p);
    this.owners.set(owner, [...(this.owners.get(owner) ?? []), ...found]);
    return found;
  }

  // Runs `task` after every task queued before it has settled, whatever their outcome.
  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
