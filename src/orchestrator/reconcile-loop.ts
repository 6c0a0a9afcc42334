import type { Logger } from "../core/logger.ts";

/**
 * When the orchestrator's reconcile passes run (what a pass does is the orchestrator's): one at
 * a time and coalesced — a pass asked for while one runs makes that one go round again — soon
 * after every event, after every retry delay, and never once closed.
 */
export class ReconcileLoop {
  private running = false;
  /** Settles when the pass under way (and its go-rounds) ends. */
  private current: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;
  /** Retry timers: close() clears them. */
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** Closed: no more passes or timers, and (the orchestrator's rule) no more store writes. */
  get closed(): boolean {
    return this.stopped;
  }

  /** Asks for a pass soon (coalesced). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    setImmediate(() => void this.run());
  }

  /** Runs a pass now, and again while more were asked for meanwhile; a failed pass is logged. */
  async run(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    let done = (): void => undefined;
    this.current = new Promise((resolve) => (done = resolve));
    try {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    } catch (err) {
      this.log.error({ err }, "reconcile pass failed");
    } finally {
      this.running = false;
      done();
    }
  }

  /** Asks for a pass after `ms`. */
  later(ms: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.kick();
    }, ms);
    this.timers.add(timer);
  }

  /** Stops asking for passes and clears the retry timers; a pass that runs finishes (see idle). */
  close(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Resolves once no pass is running. */
  async idle(): Promise<void> {
    while (this.running) await this.current;
  }
}
