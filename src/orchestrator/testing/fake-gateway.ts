/**
 * An in-memory GatewayControl for orchestrator tests: the gateway's own fence rules
 * (src/gateway/fence-rules.ts: only a higher epoch moves an account; the same deployment and
 * epoch again is an unchanged success, or a rebinding to another node key) on a map, the node
 * keys the fences name admitted with a made-up port each (as the gateway's node sockets), and two
 * faults: `hold()` keeps fence answers back
 * until `release()`, and `down` makes every call fail as an unreachable gateway would. The real
 * gateway (src/gateway) is tested against its real sockets; this fake tests the orchestrator's
 * ordering around it.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { NO_CONTROLLER, type ControllerView, type ReassignResult } from "../../gateway/controller-record.ts";
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
  /** Node key → the port of its (pretend) orders socket, for every key a fence names. */
  readonly nodePorts = new Map<string, number>();
  #nextPort = 41_000;
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

  async fence(account: string, deploymentId: string, epoch: bigint, nodeKey?: string): Promise<FenceResult> {
    this.#check("fence");
    if (this.#held) await new Promise<void>((resolve) => this.#held?.push(resolve));
    this.#check("fence");
    const key = nodeKey ?? null;
    const decision = decideFence(this.fences.get(account) ?? null, deploymentId, epoch, key);
    if (decision.kind === "refused") return { ok: false, reason: decision.reason, current: decision.current };
    const ordersPort = key === null ? null : this.#admit(key);
    if (decision.kind === "unchanged")
      return {
        ok: true,
        previous: decision.current,
        cancelled: 0,
        unchanged: true,
        ordersPort,
        released: null,
      };
    this.fences.set(account, {
      account,
      deploymentId,
      epoch: epoch.toString(),
      nodeKey: key,
      fencedAtUnixMs: Date.now(),
    });
    // A key no fence names any more is no longer admitted, as at the gateway.
    const named = new Set([...this.fences.values()].map((f) => f.nodeKey));
    for (const k of [...this.nodePorts.keys()]) if (!named.has(k)) this.nodePorts.delete(k);
    const previous = decision.kind === "rebind" ? decision.current : decision.previous;
    const released = previous?.nodeKey != null && !named.has(previous.nodeKey) ? previous.nodeKey : null;
    return { ok: true, previous, cancelled: 0, unchanged: false, ordersPort, released };
  }

  #admit(key: string): number {
    let port = this.nodePorts.get(key);
    if (port === undefined) this.nodePorts.set(key, (port = this.#nextPort++));
    return port;
  }

  nodes(): Promise<Readonly<Record<string, number>>> {
    this.#check("nodes");
    return Promise.resolve(Object.fromEntries(this.nodePorts));
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
      admittedNodes: this.nodePorts.size,
      orderIdsKept: 0,
      orderIdsForgotten: 0,
    });
  }

  /** The controller the fake holds (no check is made; the real gateway's is tested for real). */
  controller: ControllerView | null = null;

  reassign(from: string, by?: string): Promise<ReassignResult> {
    this.#check("reassign");
    void by;
    const previous = this.controller;
    if ((previous?.clusterId ?? NO_CONTROLLER) !== from)
      return Promise.reject(new HiveError(ErrorCode.FailedPrecondition, `reassign: not held by ${from}`));
    this.controller = { clusterId: "fake-caller", sinceUnixMs: Date.now() };
    const highest = [...this.fences.values()].reduce(
      (m, f) => (BigInt(f.epoch) > m ? BigInt(f.epoch) : m),
      0n,
    );
    return Promise.resolve({ previous, controller: this.controller, highestEpoch: highest.toString() });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #check(op: string): void {
    if (this.down) throw new HiveError(ErrorCode.Unavailable, `fake gateway is down (${op})`);
  }
}
