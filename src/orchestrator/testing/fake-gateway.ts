/**
 * An in-memory GatewayControl for orchestrator tests: the gateway's own fence rules
 * (src/gateway/fence-rules.ts: only a higher epoch moves an account; the same deployment and
 * epoch again is an unchanged success) on a map, and two faults: `hold()` keeps fence answers back
 * until `release()`, and `down` makes every call fail as an unreachable gateway would. The real
 * gateway (src/gateway) is tested against its real sockets; this fake tests the orchestrator's
 * ordering around it.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { decideFence } from "../../gateway/fence-rules.ts";
import type {
  AccountView,
  FenceEntry,
  FenceResult,
  GatewayControl,
  GatewayStatus,
} from "../../gateway/gateway-control.ts";

/** See the file comment. */
export class FakeGateway implements GatewayControl {
  readonly fences = new Map<string, FenceEntry>();
  readonly killed = new Set<string>();
  readonly authorized = new Map<string, string>();
  marketSources: readonly string[] = [];
  /** Every call fails with `unavailable` while true. */
  down = false;
  #held: (() => void)[] | undefined;

  /** Holds fence answers back until `release()`. */
  hold(): void {
    this.#held ??= [];
  }

  /** Answers the held fences, in order, and stops holding. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const go of held) go();
  }

  /** How many fence calls are waiting in `hold()`. */
  get heldCount(): number {
    return this.#held?.length ?? 0;
  }

  async fence(account: string, deploymentId: string, epoch: bigint): Promise<FenceResult> {
    this.#check("fence");
    if (this.#held) await new Promise<void>((resolve) => this.#held?.push(resolve));
    this.#check("fence");
    const decision = decideFence(this.fences.get(account) ?? null, deploymentId, epoch);
    if (decision.kind === "refused") return { ok: false, reason: decision.reason, current: decision.current };
    if (decision.kind === "unchanged")
      return { ok: true, previous: decision.current, cancelled: 0, unchanged: true };
    this.fences.set(account, { account, deploymentId, epoch: epoch.toString(), fencedAtUnixMs: Date.now() });
    return { ok: true, previous: decision.previous, cancelled: 0, unchanged: false };
  }

  authorize(nodeId: string, publicKey: string): Promise<void> {
    this.#check("authorize");
    this.authorized.set(nodeId, publicKey);
    return Promise.resolve();
  }

  revoke(nodeId: string): Promise<void> {
    this.#check("revoke");
    this.authorized.delete(nodeId);
    return Promise.resolve();
  }

  runners(): Promise<Readonly<Record<string, string>>> {
    this.#check("runners");
    return Promise.resolve(Object.fromEntries(this.authorized));
  }

  kill(account: string): Promise<{ readonly cancelled: number }> {
    this.#check("kill");
    this.killed.add(account);
    return Promise.resolve({ cancelled: 0 });
  }

  unkill(account: string): Promise<void> {
    this.#check("unkill");
    this.killed.delete(account);
    return Promise.resolve();
  }

  accounts(account?: string): Promise<readonly AccountView[]> {
    this.#check("accounts");
    const names = new Set([...this.fences.keys(), ...this.killed]);
    return Promise.resolve(
      [...names]
        .filter((a) => account === undefined || a === account)
        .sort()
        .map((a) => ({
          account: a,
          fence: this.fences.get(a) ?? null,
          killed: this.killed.has(a),
          positions: {},
          openOrders: [],
        })),
    );
  }

  marketData(sources: readonly string[]): Promise<void> {
    this.#check("marketData");
    this.marketSources = [...sources];
    return Promise.resolve();
  }

  status(): Promise<GatewayStatus> {
    this.#check("status");
    return Promise.resolve({
      accepted: 0,
      rejected: {},
      fills: 0,
      accounts: this.fences.size,
      authorizedRunners: this.authorized.size,
      orderIdsKept: 0,
      orderIdsForgotten: 0,
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #check(op: string): void {
    if (this.down) throw new HiveError(ErrorCode.Unavailable, `fake gateway is down (${op})`);
  }
}
