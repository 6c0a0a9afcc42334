/**
 * The runner's view of its lease, and the self-fencing timeline it drives (DESIGN.md §3, layer 2):
 * a runner that cannot renew its lease closes the order paths of its live deployments at once —
 * before the orchestrator may consider the node dead — and kills those processes after a grace
 * period. Everything runs on a monotonic clock (monotonic-clock.ts), so a jump of the wall clock
 * can neither delay nor hasten it.
 *
 * The lease: the orchestrator answers a Register with a RegisterAck and each Heartbeat with a
 * HeartbeatAck, each carrying the lease TTL counted from when the runner SENT the message. So
 * the deadline is (monotonic time the last acknowledged message was sent) + its TTL — never the
 * time the ack arrived, which would stretch the lease by the network delay. An ack that arrives
 * after the lease it grants has run out renews nothing.
 *
 *   none ──grant──▶ held ──deadline, no renewal──▶ lost ──killAfterMs──▶ killed
 *                    ▲                               │                     │
 *                    └────────────grant──────────────┴────────grant────────┘
 *
 * - none: no lease yet (a runner that has just started, whatever ran before): order paths stay
 *   closed; nothing is killed, as nothing was ever granted.
 * - held: order paths are as the orchestrator last commanded.
 * - lost: the deadline passed without a renewal; onLost closed the order paths; the kill timer
 *   runs.
 * - killed: onKill ran (the live processes were SIGKILLed).
 * Any grant moves to held and cancels the kill timer; onGranted restores the commanded state.
 *
 * Pure logic over an injected clock; the runner supplies the callbacks that act.
 */
import type { CancelTimer, MonotonicClock } from "../../core/monotonic-clock.ts";

/** Where the lease stands; see the file comment. */

/** How long a runner whose lease ran out waits before it kills its live processes (see killAfterMs). */
export const DEFAULT_SELF_FENCE_KILL_AFTER_MS = 10_000;
export type LeaseState = "none" | "held" | "lost" | "killed";

/** Heartbeats whose send time is kept at most (older ones are dropped; their acks renew nothing). */
export const MAX_UNACKED_HEARTBEATS = 10_000;

/** What a {@link LeaseGuard} is given. */
export interface LeaseGuardOptions {
  readonly clock: MonotonicClock;
  /**
   * How long after the lease ran out the live processes are killed; default
   * DEFAULT_SELF_FENCE_KILL_AFTER_MS. Their order paths are closed from the first instant, and
   * the gateway refuses them by epoch once the orchestrator has failed over, so the kill is
   * hygiene, not the fence: it is kept long enough that an orchestrator restart (a few seconds
   * without acks) costs live strategies a closed order path for a moment, not their process.
   */
  readonly killAfterMs?: number;
  /** The lease ran out `overdueMs` ago (0 unless the timer fired late): close the order paths. */
  readonly onLost: (event: { readonly overdueMs: number }) => void;
  /** The grace after the loss is over: kill the live processes. */
  readonly onKill: (event: { readonly lostForMs: number }) => void;
  /** A lease is held again (or for the first time): restore the commanded order-path state. */
  readonly onGranted: (event: { readonly from: LeaseState; readonly lostForMs: number }) => void;
}

/** The lease and its timers; see the file comment. */
export class LeaseGuard {
  readonly #options: LeaseGuardOptions;
  #state: LeaseState = "none";
  /** Monotonic time the lease runs out; -Infinity while none was granted. */
  #deadline = -Infinity;
  /** The TTL of the lease held (or last held). */
  #ttlMs = 0;
  /** Monotonic send time of heartbeats not yet acknowledged, by seq. */
  readonly #sent = new Map<bigint, number>();
  #registerSentAt: number | undefined;
  #cancelExpiry: CancelTimer | undefined;
  #cancelKill: CancelTimer | undefined;
  #closed = false;
  /** Counts, for metrics. */
  #losses = 0;
  #kills = 0;

  constructor(options: LeaseGuardOptions) {
    this.#options = options;
  }

  /** Where the lease stands. */
  get state(): LeaseState {
    return this.#state;
  }

  /** Milliseconds until the lease runs out (negative once it has; -Infinity if never granted). */
  remainingMs(): number {
    return this.#deadline - this.#options.clock.now();
  }

  /** Times the lease was lost, and times the live processes were killed for it. */
  get counts(): { readonly losses: number; readonly kills: number } {
    return { losses: this.#losses, kills: this.#kills };
  }

  /** A Register is being sent now (a new stream). */
  registerSent(): void {
    this.#registerSentAt = this.#options.clock.now();
  }

  /** The Register was accepted with this lease TTL. */
  registered(ttlMs: number): void {
    const sentAt = this.#registerSentAt;
    if (sentAt !== undefined) this.#grant(sentAt + ttlMs, ttlMs);
  }

  /** A heartbeat with this seq is being sent now. */
  heartbeatSent(seq: bigint): void {
    this.#sent.set(seq, this.#options.clock.now());
    if (this.#sent.size > MAX_UNACKED_HEARTBEATS) {
      const oldest = this.#sent.keys().next();
      if (oldest.done !== true) this.#sent.delete(oldest.value);
    }
  }

  /** The heartbeat `seq` was acknowledged with this lease TTL (0: the TTL of the lease held). */
  heartbeatAcked(seq: bigint, ttlMs: number): void {
    const sentAt = this.#sent.get(seq);
    for (const s of this.#sent.keys()) if (s <= seq) this.#sent.delete(s);
    if (sentAt === undefined) return;
    const ttl = ttlMs > 0 ? ttlMs : this.#ttlMs;
    this.#grant(sentAt + ttl, ttl);
  }

  /** Cancels every timer; nothing fires afterwards. */
  close(): void {
    this.#closed = true;
    this.#cancelExpiry?.();
    this.#cancelKill?.();
    this.#cancelExpiry = this.#cancelKill = undefined;
  }

  #grant(deadline: number, ttlMs: number): void {
    if (this.#closed || deadline <= this.#deadline) return; // an older message's ack
    const now = this.#options.clock.now();
    if (deadline <= now) return; // it ran out before it arrived: not a renewal
    const from = this.#state;
    const lostForMs = from === "lost" || from === "killed" ? now - this.#deadline : 0;
    this.#deadline = deadline;
    this.#ttlMs = ttlMs;
    this.#cancelKill?.();
    this.#cancelKill = undefined;
    this.#cancelExpiry?.();
    this.#cancelExpiry = this.#options.clock.setTimer(deadline - now, () => this.#expire());
    this.#state = "held";
    if (from !== "held") this.#options.onGranted({ from, lostForMs });
  }

  #expire(): void {
    this.#cancelExpiry = undefined;
    if (this.#closed || this.#state !== "held") return;
    const now = this.#options.clock.now();
    if (now < this.#deadline) {
      // Not due yet (a clock whose timers fire early): wait for the rest.
      this.#cancelExpiry = this.#options.clock.setTimer(this.#deadline - now, () => this.#expire());
      return;
    }
    this.#state = "lost";
    this.#losses += 1;
    this.#options.onLost({ overdueMs: now - this.#deadline });
    const killAt = this.#deadline + (this.#options.killAfterMs ?? DEFAULT_SELF_FENCE_KILL_AFTER_MS);
    this.#cancelKill = this.#options.clock.setTimer(killAt - now, () => this.#kill());
  }

  #kill(): void {
    this.#cancelKill = undefined;
    if (this.#closed || this.#state !== "lost") return;
    this.#state = "killed";
    this.#kills += 1;
    this.#options.onKill({ lostForMs: this.#options.clock.now() - this.#deadline });
  }
}
