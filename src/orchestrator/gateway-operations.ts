/**
 * What the orchestrator asks of the broker gateways besides fencing (that is order-gate.ts): the
 * checks of a layout only it can make at apply, the kill switch and the accounts for people
 * (`hive kill`, `hive accounts`), and, on every reconcile pass, the market-data sources the
 * gateways' paper brokers price against. The rules themselves are trading-rules.ts's.
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import type { Layout, ValidationIssue } from "../domain/index.ts";
import type { GatewayAccountView, GatewayReassignView, KillResult } from "./control-plane.ts";
import type { Deployment } from "./deployment.ts";
import type { Gateways } from "./gateways.ts";
import type { LayoutEntry } from "./layout-entry.ts";
import { EPOCH_KEY } from "./order-gate.ts";
import type { Store } from "./store/store.ts";
import { gatewayIssues, gatewaysForAccount, marketDataSources, type AppliedLayout } from "./trading-rules.ts";

/** What the gateway operations read of the orchestrator (its state is never changed through them). */
export interface GatewayOperationsDeps {
  /** The configured gateways; undefined when there are none. */
  readonly gateways: Gateways | undefined;
  readonly log: Logger;
  /** The applied layouts, by name. */
  readonly layouts: ReadonlyMap<string, LayoutEntry>;
  /** Every deployment, by id. */
  readonly deployments: ReadonlyMap<string, Deployment>;
  /** The store, whose epoch sequence a reassign moves past the gateway's. */
  readonly store: Store;
}

/** The orchestrator's calls to the gateways on behalf of people and of the reconcile pass. */
export class GatewayOperations {
  constructor(private readonly deps: GatewayOperationsDeps) {}

  /**
   * What only the orchestrator can check in a layout: that the gateways it names are configured,
   * and that no account it trades is traded by a service of another layout.
   */
  issues(layout: Layout): ValidationIssue[] {
    return gatewayIssues(layout, this.deps.gateways?.names() ?? [], this.applied());
  }

  /**
   * The kill switch (`hive kill`): blocks new orders for the account and cancels its resting ones.
   * An account no applied layout trades and no gateway knows is refused unless `force`: a
   * mistyped account must not report a kill while the real one goes on trading.
   */
  async kill(account: string, reason: string, options: { force?: boolean } = {}): Promise<KillResult[]> {
    if (!options.force && !this.tradedByLayout(account) && (await this.accounts(account)).length === 0) {
      const known = [...new Set((await this.accounts()).map((a) => a.account))].sort();
      throw new HiveError(
        ErrorCode.NotFound,
        `no layout trades account "${account}" and no gateway knows it ` +
          `(known: ${known.join(", ") || "none"}); force it to kill an account anyway`,
      );
    }
    const out: KillResult[] = [];
    for (const name of this.gatewaysForAccount(account)) {
      const r = await this.gateway(name).kill(account, reason);
      out.push({ gateway: name, account, cancelled: r.cancelled });
    }
    this.deps.log.warn({ account, reason, gateways: out.map((k) => k.gateway) }, "kill switch engaged");
    return out;
  }

  private tradedByLayout(account: string): boolean {
    return [...this.deps.layouts.values()].some((e) =>
      e.layout.services.some((m) => m.accounts.includes(account)),
    );
  }

  /** Lifts the kill switch of an account. */
  async unkill(account: string): Promise<void> {
    for (const name of this.gatewaysForAccount(account)) await this.gateway(name).unkill(account);
    this.deps.log.warn({ account }, "kill switch lifted");
  }

  /** Every account each gateway knows: who may trade it, positions, open orders. */
  async accounts(account?: string): Promise<GatewayAccountView[]> {
    const out: GatewayAccountView[] = [];
    for (const [name, control] of this.deps.gateways?.all() ?? []) {
      for (const view of await control.accounts(account)) out.push({ gateway: name, ...view });
    }
    return out;
  }

  /**
   * `hive gateway reassign`: makes this orchestrator the gateway's controller in place of `from`,
   * then moves the store's epoch sequence past every epoch the gateway holds, so that its first
   * fences there pass (a store that never fenced this gateway starts far behind it) without
   * raising `epoch-behind`.
   */
  async reassign(gateway: string, from: string, by: string): Promise<GatewayReassignView> {
    const result = await this.gateways().reassign(gateway, from, by);
    const storeEpoch = await this.deps.store.advanceEpoch(EPOCH_KEY, BigInt(result.highestEpoch));
    return {
      gateway,
      from: result.previous?.clusterId ?? null,
      to: result.controller.clusterId,
      gatewayEpoch: result.highestEpoch,
      storeEpoch: storeEpoch.toString(),
    };
  }

  /** Keeps the gateways' market-data sources (the active producers layouts name) and runner keys pushed. */
  sync(): void {
    const gateways = this.deps.gateways;
    if (!gateways) return;
    const instances = [...this.deps.deployments.values()].map((d) => ({
      layout: d.rec.layout,
      service: d.rec.service,
      role: d.rec.role,
      running: d.phase === "running",
      addresses: d.rec.addresses ?? {},
    }));
    for (const [name, list] of marketDataSources(this.applied(), instances, gateways.names()))
      gateways.setMarketData(name, list);
    gateways.sync();
  }

  /** The gateways that may hold `account`: those a layout's strategy trades it through, else all. */
  private gatewaysForAccount(account: string): string[] {
    return gatewaysForAccount(account, this.applied(), this.gateways().names());
  }

  private gateway(name: string) {
    return this.gateways().control(name);
  }

  /** The configured gateways; FailedPrecondition when there are none. */
  private gateways(): Gateways {
    const gateways = this.deps.gateways;
    if (gateways === undefined || gateways.names().length === 0)
      throw new HiveError(ErrorCode.FailedPrecondition, "this orchestrator has no gateways configured");
    return gateways;
  }

  /** The applied layouts, as the trading rules see them. */
  private applied(): AppliedLayout[] {
    return [...this.deps.layouts.values()].map((l) => ({
      name: l.rec.name,
      layout: l.layout,
      stopping: l.rec.state === "stopping",
    }));
  }
}
