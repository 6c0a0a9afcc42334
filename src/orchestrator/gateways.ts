/**
 * The orchestrator's side of the broker gateways (DESIGN.md §3): the gateways it knows by name,
 * their control channels, the fences it writes there, and the state it keeps pushed to them (the
 * market-data publishers their paper brokers take prices from).
 *
 * Orders bound to a node (docs/gateway.md): every fence at a gateway that runs CURVE names the
 * CURVE public key of the node hosting the deployment, as that node's runner sent it in its
 * Register (`setRunnerKey`). The gateway admits a node key while a fence names it, on an orders
 * socket of that node's own, and refuses any other node's orders for that deployment
 * (`wrong-node`); so there is nothing to authorize or revoke here: moving a fence is what admits
 * the new node and drops the old one. The port of each node's socket comes back with its fence
 * (and from the `nodes` op), and the routing tables send each node's order paths there
 * (`addresses()`); a node that hosts nothing fenced at a gateway gets no route to it.
 *
 * Which fences and node sockets a gateway holds is read from it (the `accounts` and `nodes` ops)
 * on the first sync and again every RELIST_MS, so a gateway that lost its state directory, or a
 * fence written before node binding existed (naming no node), or naming a key the node no longer
 * has, is found: the active's activation fences it again (`fenceStale`, live-failover.ts).
 *
 * One controller per gateway (docs/gateway.md): every request names this orchestrator's cluster id
 * (its store's); a gateway another cluster controls refuses the steering ops (fence, kill, unkill,
 * market data) with WrongControllerError, which raises the `wrong-controller` alert here and
 * fails the call: nothing moves until an operator runs `hive gateway reassign` (`reassign`).
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { systemClock, type MonotonicClock } from "../core/monotonic-clock.ts";
import { WrongControllerError, type ReassignResult } from "../gateway/controller-record.ts";
import type { FenceEntry, FenceResult, GatewayControl } from "../gateway/gateway-control.ts";
import { isZ85Key } from "../core/z85.ts";
import type { GatewayAddress } from "../layout/index.ts";
import { GatewayAlerts } from "./gateway-alerts.ts";

/** A gateway as the orchestrator is configured with it. */
export interface GatewayEndpoint {
  /** The name layouts use (`gateways: [{ name: paper, ... }]`). */
  readonly name: string;
  /**
   * `tcp://ip:port` of its orders socket: where runners send orders when it runs without CURVE;
   * with CURVE, each node's orders socket listens on the same ip, on a port of its own.
   */
  readonly orders: string;
  /** `tcp://ip:port` of its control socket, where the orchestrator fences. */
  readonly control: string;
  /** Its CURVE public key (Z85); "" when it runs without CURVE. */
  readonly publicKey: string;
}

/**
 * Opens the control channel to one gateway, as `controller` (the orchestrator's cluster id, which
 * every request names).
 */
export type ConnectGateway = (config: GatewayEndpoint, controller: string) => GatewayControl;

/** How often the fences and node sockets a gateway holds are read from it again. */
export const RELIST_MS = 10_000;

/** Options of {@link Gateways}. */
export interface GatewaysOptions {
  /** How often a gateway's fences and node sockets are read again (default RELIST_MS). */
  readonly relistMs?: number;
  /** Monotonic clock, ms (default the system's, core/monotonic-clock.ts). */
  readonly now?: MonotonicClock["now"];
  /** Told when a node's orders port at a gateway is learnt or changes (its routes change). */
  readonly onRoutes?: () => void;
  /** This orchestrator's cluster id (its store's), named by every request (default "" : none). */
  readonly controller?: string;
}

interface GatewayLink {
  readonly config: GatewayEndpoint;
  readonly control: GatewayControl;
  /** Node key → the port of its orders socket, from fence answers and the `nodes` op. */
  ports: Map<string, number>;
  /** Node key → when (monotonic ms) a fence answer told its port, or that its socket closed. */
  readonly portsLearnt: Map<string, number>;
  /** When (monotonic ms) the gateway's fences and node sockets were last read. */
  listedAt: number | undefined;
  /** The gateway's fence entries by account, as read by a request sent at `fencedReadFrom`. */
  fenced: ReadonlyMap<string, FenceEntry>;
  /** When (monotonic ms) the read of `fenced` was sent; -Infinity before the first. */
  fencedReadFrom: number;
  /** The market-data sources it has acknowledged, joined, or undefined if never sent. */
  marketData: string | undefined;
  /** A sync of this gateway is on its way. */
  syncing: boolean;
}

/** The gateways an orchestrator fences, and what it keeps pushed to them. */
export class Gateways {
  readonly #links = new Map<string, GatewayLink>();
  /** nodeId → CURVE public key of every runner that registered with one. */
  readonly #runnerKeys = new Map<string, string>();
  /** gateway name → market-data sources wanted. */
  readonly #marketData = new Map<string, readonly string[]>();
  readonly #log: Logger;
  readonly #now: MonotonicClock["now"];
  readonly #relistMs: number;
  readonly #onRoutes: () => void;
  /** Deployment ids the gateways held fenced when this orchestrator took them over (reassign). */
  readonly #inherited = new Set<string>();
  /** The alerts about who steers the gateways (counted and logged). */
  readonly alerts: GatewayAlerts;

  constructor(
    configs: readonly GatewayEndpoint[],
    connect: ConnectGateway,
    log: Logger,
    options: GatewaysOptions = {},
  ) {
    this.#log = log;
    this.#now = options.now ?? (() => systemClock.now());
    this.#relistMs = options.relistMs ?? RELIST_MS;
    this.#onRoutes = options.onRoutes ?? (() => undefined);
    this.alerts = new GatewayAlerts(log, this.#now);
    const controller = options.controller ?? "";
    for (const config of configs) {
      if (this.#links.has(config.name)) {
        throw new HiveError(ErrorCode.InvalidArgument, `gateway ${config.name} is configured twice`);
      }
      this.#links.set(config.name, {
        config,
        control: connect(config, controller),
        ports: new Map(),
        portsLearnt: new Map(),
        listedAt: undefined,
        fenced: new Map(),
        fencedReadFrom: Number.NEGATIVE_INFINITY,
        marketData: undefined,
        syncing: false,
      });
    }
  }

  /** The names of the configured gateways, sorted. */
  names(): string[] {
    return [...this.#links.keys()].sort();
  }

  /**
   * Where each gateway takes orders, for the routing tables: with CURVE, the orders socket of
   * each node it admits (by node id), and no route for the others.
   */
  addresses(): ReadonlyMap<string, GatewayAddress> {
    return new Map(
      [...this.#links].map(([name, l]) => {
        const address: GatewayAddress = { orders: l.config.orders, publicKey: l.config.publicKey };
        if (l.config.publicKey === "") return [name, address];
        const host = l.config.orders.replace(/:\d+$/, "");
        const nodeOrders = new Map<string, string>();
        for (const [nodeId, key] of this.#runnerKeys) {
          const port = l.ports.get(key);
          if (port !== undefined) nodeOrders.set(nodeId, `${host}:${port}`);
        }
        return [name, { ...address, nodeOrders }];
      }),
    );
  }

  /** The control channel of a gateway; NotFound for a name not configured. */
  control(name: string): GatewayControl {
    return this.#link(name).control;
  }

  #link(name: string): GatewayLink {
    const link = this.#links.get(name);
    if (!link) {
      const known =
        this.names().join(", ") || "none (hive orchestrator --gateway name=...,orders=...,control=...)";
      throw new HiveError(ErrorCode.NotFound, `no gateway ${name} (configured: ${known})`);
    }
    return link;
  }

  /** Every gateway's control channel, by name. */
  all(): [string, GatewayControl][] {
    return [...this.#links].map(([name, l]) => [name, l.control]);
  }

  /**
   * Fences `account` at gateway `name` to (deploymentId, epoch) on node `nodeId`, naming the
   * node's CURVE key when the gateway runs CURVE, and records the port of that node's orders
   * socket. FailedPrecondition when the gateway runs CURVE and the node registered no key: its
   * orders could not be bound to it (nor could it connect).
   */
  async fence(
    name: string,
    account: string,
    deploymentId: string,
    epoch: bigint,
    nodeId: string,
  ): Promise<FenceResult> {
    const link = this.#link(name);
    const nodeKey = this.#nodeKeyAt(link, nodeId);
    if (nodeKey === undefined)
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `gateway ${name} runs CURVE, and node ${nodeId} registered no CURVE key: ${deploymentId}'s orders cannot be bound to it`,
      );
    const result = await this.#steer(name, "fence", () =>
      link.control.fence(account, deploymentId, epoch, nodeKey ?? undefined),
    );
    if (result.ok && nodeKey !== null && result.ordersPort !== null)
      this.#learnPort(link, nodeKey, result.ordersPort);
    // The node the account moved away from, if it hosts nothing else fenced there: its socket is
    // closed, so its route goes (a later admission is then a new route, dialled at once, rather
    // than a redial of a port that was closed, in ZeroMQ's back-off).
    if (result.ok && result.released !== null) {
      link.portsLearnt.set(result.released, this.#now());
      if (link.ports.delete(result.released)) this.#onRoutes();
      this.#log.info({ gateway: name, key: result.released }, "gateway: a node no longer admitted");
    }
    return result;
  }

  /**
   * Runs a steering call at gateway `name`; a refusal for being another controller raises the
   * `wrong-controller` alert before it is rethrown.
   */
  async #steer<T>(name: string, op: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof WrongControllerError)
        this.alerts.raise(
          name,
          "wrong-controller",
          { op, holder: err.holder, caller: err.caller },
          `gateway ${name} is controlled by cluster ${err.holder}, not this one (${err.caller ?? "none"}): ` +
            `its ${op} was refused and nothing moved; if this orchestrator should steer it, ` +
            `run hive gateway reassign ${name} --from ${err.holder} against this orchestrator`,
        );
      throw err;
    }
  }

  /**
   * Makes this orchestrator the controller of gateway `name` in place of `from` (an operator's
   * deliberate move, `hive gateway reassign`). The deployments the gateway holds fenced then
   * count as known (their fences are taken over, not a surprise).
   */
  async reassign(name: string, from: string, by: string): Promise<ReassignResult> {
    const link = this.#link(name);
    const result = await link.control.reassign(from, by);
    try {
      for (const a of await link.control.accounts())
        if (a.fence !== null) this.#inherited.add(a.fence.deploymentId);
    } catch (err) {
      this.#log.warn(
        { gateway: name, err: HiveError.from(err).message },
        "gateway reassigned; its fences could not be read (a fence taking one over may raise unknown-previous)",
      );
    }
    this.#log.warn(
      { gateway: name, from: result.previous?.clusterId ?? null, to: result.controller.clusterId, by },
      "gateway reassigned to this orchestrator",
    );
    return result;
  }

  /** Whether `deploymentId` was fenced at a gateway when this orchestrator took it over. */
  inherited(deploymentId: string): boolean {
    return this.#inherited.has(deploymentId);
  }

  /** The key a fence at `link` names for `nodeId`: null without CURVE, undefined when it has none. */
  #nodeKeyAt(link: GatewayLink, nodeId: string): string | null | undefined {
    return link.config.publicKey === "" ? null : this.#runnerKeys.get(nodeId);
  }

  #learnPort(link: GatewayLink, nodeKey: string, port: number): void {
    link.portsLearnt.set(nodeKey, this.#now());
    if (link.ports.get(nodeKey) === port) return;
    link.ports.set(nodeKey, port);
    this.#log.info({ gateway: link.config.name, key: nodeKey, port }, "gateway: a node's orders port");
    this.#onRoutes();
  }

  /**
   * Whether gateway `name`'s fence of `account`, read by a request sent at or after `since`
   * (monotonic ms), needs writing again for `deploymentId` at `epoch` on `nodeId`: there is no
   * fence at all (the gateway lost its state directory), or the fence is that very instance's
   * but names no node or another key than the node's (a fence from before node binding, a
   * runner that came back with a new key). False when unknown (no such read yet, no such
   * gateway), and when the account is fenced to anyone else: that is not taken back here.
   */
  fenceStale(
    name: string,
    account: string,
    since: number,
    d: { readonly deploymentId: string; readonly epoch: bigint; readonly nodeId: string },
  ): boolean {
    const link = this.#links.get(name);
    if (link === undefined || link.fencedReadFrom < since) return false;
    const entry = link.fenced.get(account);
    if (entry === undefined) return true;
    if (entry.deploymentId !== d.deploymentId || entry.epoch !== d.epoch.toString()) return false;
    const want = this.#nodeKeyAt(link, d.nodeId);
    return want !== undefined && entry.nodeKey !== want;
  }

  /** Records a runner's key (from its Register): the key fences name for that node. */
  setRunnerKey(nodeId: string, publicKey: string): void {
    const before = this.#runnerKeys.get(nodeId);
    if (publicKey === "") this.#runnerKeys.delete(nodeId);
    else this.#runnerKeys.set(nodeId, publicKey);
    if (before !== this.#runnerKeys.get(nodeId)) this.#onRoutes();
  }

  /** The market-data publishers a gateway's paper broker should follow (replaces the set). */
  setMarketData(name: string, sources: readonly string[]): void {
    if (this.#links.has(name)) this.#marketData.set(name, [...new Set(sources)].sort());
  }

  /** Pushes what each gateway is missing; failures are logged and retried on the next call. */
  sync(): void {
    for (const link of this.#links.values()) {
      if (link.syncing) continue;
      link.syncing = true;
      void this.#syncOne(link).finally(() => (link.syncing = false));
    }
  }

  async #syncOne(link: GatewayLink): Promise<void> {
    try {
      if (link.listedAt === undefined || this.#now() - link.listedAt >= this.#relistMs) {
        const sent = this.#now();
        const ports = new Map(Object.entries(await link.control.nodes()));
        const accounts = await link.control.accounts();
        // What a fence answered while the list was on its way is newer than the list.
        for (const [key, at] of link.portsLearnt) {
          if (at < sent) {
            link.portsLearnt.delete(key);
            continue;
          }
          const port = link.ports.get(key);
          if (port === undefined) ports.delete(key);
          else ports.set(key, port);
        }
        const changed =
          ports.size !== link.ports.size || [...ports].some(([key, port]) => link.ports.get(key) !== port);
        link.ports = ports;
        link.fenced = new Map(accounts.flatMap((a) => (a.fence === null ? [] : [[a.account, a.fence]])));
        link.fencedReadFrom = sent;
        link.listedAt = this.#now();
        if (changed) {
          this.#log.info(
            { gateway: link.config.name, ports: Object.fromEntries(ports) },
            "gateway: node ports read",
          );
          this.#onRoutes();
        }
      }
      const wanted = this.#marketData.get(link.config.name);
      if (wanted !== undefined && wanted.join(" ") !== link.marketData) {
        await this.#steer(link.config.name, "marketData", () => link.control.marketData(wanted));
        link.marketData = wanted.join(" ");
      }
    } catch (err) {
      this.#log.warn(
        { gateway: link.config.name, err: HiveError.from(err).message },
        "gateway sync failed; will retry",
      );
    }
  }

  /** Closes every control channel. */
  async close(): Promise<void> {
    const links = [...this.#links.values()];
    const closed = await Promise.allSettled(links.map((l) => l.control.close()));
    // One that fails to close is logged and left: the others still close, and so does the process.
    for (const [i, result] of closed.entries()) {
      if (result.status === "rejected") {
        this.#log.debug(
          { gateway: links[i]?.config.name, err: HiveError.from(result.reason).message },
          "gateway control channel did not close cleanly",
        );
      }
    }
  }
}

/**
 * Parses `name=paper,orders=tcp://127.0.0.1:7100,control=tcp://127.0.0.1:7101,key=<z85>` (the
 * `--gateway` flag). `key` may be omitted for a gateway that runs without CURVE.
 */
export function parseGatewayFlag(text: string): GatewayEndpoint {
  const fields = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) {
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `--gateway: found "${part}" in "${text}", expected key=value (name, orders, control, key)`,
      );
    }
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  for (const unknown of [...fields.keys()].filter((k) => !["name", "orders", "control", "key"].includes(k))) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `--gateway: unknown field ${unknown}; expected name, orders, control, key`,
    );
  }
  const need = (k: string, what: string): string => {
    const v = fields.get(k);
    if (v === undefined || v === "")
      throw new HiveError(ErrorCode.InvalidArgument, `--gateway: missing ${k}=, expected ${what}`);
    return v;
  };
  const name = need("name", "the name layouts use, such as paper");
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `--gateway: name ${name}: expected lower-case letters, digits and '-'`,
    );
  }
  const tcp = (k: string): string => {
    const v = need(k, "tcp://host:port");
    if (!/^tcp:\/\/[^:/]+:\d{1,5}$/.test(v))
      throw new HiveError(ErrorCode.InvalidArgument, `--gateway: ${k}=${v}: expected tcp://host:port`);
    return v;
  };
  const key = fields.get("key") ?? "";
  if (key !== "" && !isZ85Key(key)) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `--gateway: key: expected a 40-character Z85 CURVE public key`,
    );
  }
  return { name, orders: tcp("orders"), control: tcp("control"), publicKey: key };
}
