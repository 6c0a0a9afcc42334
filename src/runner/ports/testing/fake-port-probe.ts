import type { PortProbe } from "../port-probe.ts";

/** An in-memory probe for tests: ports are taken when the test says so. */
export class FakePortProbe implements PortProbe {
  /** Ports taken by "other processes", listening (visible in /proc). */
  readonly listeners = new Set<number>();
  /** Ports taken without listening (only a bind finds them). */
  readonly bound = new Set<number>();
  /** How many times canBind was called. */
  binds = 0;

  listening(): Promise<ReadonlySet<number>> {
    return Promise.resolve(new Set(this.listeners));
  }

  async canBind(port: number): Promise<boolean> {
    this.binds++;
    // Yield a whole turn of the event loop, as a real bind does, so concurrent callers interleave.
    await new Promise<void>((resolve) => setImmediate(resolve));
    return !this.listeners.has(port) && !this.bound.has(port);
  }
}
