/**
 * The orchestrator's side of the broker gateways (DESIGN.md §3): the gateways it knows by name,
 * their control channels, and the state it keeps pushed to them: which runner keys may send orders
 * (every registered runner's CURVE public key; one a runner no longer registers with is revoked)
 * and which market-data publishers the paper broker takes its prices from.
 *
 * Pushes are idempotent and retried: what a gateway should have is kept here as desired state,
 * and `sync()` (called on every reconcile pass) sends what it does not have yet. A gateway that
 * restarts keeps what it was told (it writes it down), and a push it missed is sent again.
 *
 * Which keys a gateway holds is read from it (the `runners` op) on the first sync and again every
 * RELIST_MS, so a gateway that lost its state directory gets every key pushed again. Which
 * accounts it holds a fence for is read with them (the `accounts` op): an active whose account the
 * gateway no longer fences at all (it lost its state directory) is fenced again (`lostFence`,
 * live-failover.ts) instead of having every order refused `not-fenced` for good. Keys are
 * revoked only once `revokeAfterMs` have passed since `armRevocation()` (called when runners can
 * register): a key whose node has not registered since is then revoked, so the key of a node that
 * went away while the orchestrator was down (or restarting) does not stay authorized forever; a
 * live runner re-registers within its reconnect backoff (at most 5 s), well inside the default
 * 30 s. A gateway is kept by one orchestrator (one leader at a time): another one's runners would
 * be revoked here.
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { systemClock, type MonotonicClock } from "../core/monotonic-clock.ts";
import type { GatewayControl } from "../gateway/gateway-control.ts";
import { isZ85Key } from "../core/z85.ts";
import type { GatewayAddress } from "../layout/index.ts";

/** A gateway as the orchestrator is configured with it. */
export interface GatewayEndpoint {
  /** The name layouts use (`gateways: [{ name: paper, ... }]`). */
  readonly name: string;
  /** `tcp://ip:port` of its orders socket, where runners send orders. */
  readonly orders: string;
  /** `tcp://ip:port` of its control socket, where the orchestrator fences. */
  readonly control: string;
  /** Its CURVE public key (Z85); "" when it runs without CURVE. */
  readonly publicKey: string;
}

/** Opens the control channel to one gateway. */
export type ConnectGateway = (config: GatewayEndpoint) => GatewayControl;

/** How long after start the orchestrator waits before it revokes keys of nodes that have not registered. */
export const DEFAULT_REVOKE_AFTER_MS = 30_000;

/** How often the keys a gateway holds are read from it again. */
export const RELIST_MS = 10_000;

/** Options of {@link Gateways}. */
export interface GatewaysOptions {
  /** See the file comment (default DEFAULT_REVOKE_AFTER_MS). */
  readonly revokeAfterMs?: number;
  /** How often a gateway's keys and fenced accounts are read again (default RELIST_MS). */
  readonly relistMs?: number;
  /** Monotonic clock, ms (default the system's, core/monotonic-clock.ts). */
  readonly now?: MonotonicClock["now"];
}

interface GatewayLink {
  readonly config: GatewayEndpoint;
  readonly control: GatewayControl;
  /** nodeId → the key this gateway has acknowledged (or listed). */
  readonly authorized: Map<string, string>;
  /** When (monotonic ms) the gateway's own list of keys was last read into `authorized`. */
  listedAt: number | undefined;
  /** The accounts the gateway held a fence for, as read by a request sent at `fencedReadFrom`. */
  fenced: ReadonlySet<string>;
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
  readonly #revokeAfterMs: number;
  readonly #relistMs: number;
  /** Monotonic ms from which keys of unregistered nodes are revoked (never until armed). */
  #revokeFrom = Number.POSITIVE_INFINITY;

  constructor(
    configs: readonly GatewayEndpoint[],
    connect: ConnectGateway,
    log: Logger,
    options: GatewaysOptions = {},
  ) {
    this.#log = log;
    this.#now = options.now ?? (() => systemClock.now());
    this.#revokeAfterMs = options.revokeAfterMs ?? DEFAULT_REVOKE_AFTER_MS;
    this.#relistMs = options.relistMs ?? RELIST_MS;
    for (const config of configs) {
      if (this.#links.has(config.name)) {
        throw new HiveError(ErrorCode.InvalidArgument, `gateway ${config.name} is configured twice`);
      }
      this.#links.set(config.name, {
        config,
        control: connect(config),
        authorized: new Map(),
        listedAt: undefined,
        fenced: new Set(),
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

  /** Where each gateway takes orders, for the routing tables. */
  addresses(): ReadonlyMap<string, GatewayAddress> {
    return new Map(
      [...this.#links].map(([name, l]) => [name, { orders: l.config.orders, publicKey: l.config.publicKey }]),
    );
  }

  /** The control channel of a gateway; NotFound for a name not configured. */
  control(name: string): GatewayControl {
    const link = this.#links.get(name);
    if (!link) {
      const known =
        this.names().join(", ") || "none (hive orchestrator --gateway name=...,orders=...,control=...)";
      throw new HiveError(ErrorCode.NotFound, `no gateway ${name} (configured: ${known})`);
    }
    return link.control;
  }

  /** Every gateway's control channel, by name. */
  all(): [string, GatewayControl][] {
    return [...this.#links].map(([name, l]) => [name, l.control]);
  }

  /**
   * Starts the grace period after which keys of nodes that have not registered are revoked; the
   * orchestrator calls it once runners can reach it (after a slow start, the period has not been
   * spent waiting for a listener that was not there yet).
   */
  armRevocation(): void {
    if (this.#revokeFrom === Number.POSITIVE_INFINITY) this.#revokeFrom = this.#now() + this.#revokeAfterMs;
  }

  /**
   * Whether gateway `name` holds no fence at all for `account` by a read sent at or after `since`
   * (monotonic ms): a fence acknowledged before `since` that such a read no longer shows was lost
   * with the gateway's state. False when unknown (no such read yet, or no such gateway), and when
   * the account is fenced to anyone: an account another deployment holds is not taken back here.
   */
  lostFence(name: string, account: string, since: number): boolean {
    const link = this.#links.get(name);
    return link !== undefined && link.fencedReadFrom >= since && !link.fenced.has(account);
  }

  /** Records a runner's key (from its Register); pushed to every gateway by `sync`. */
  setRunnerKey(nodeId: string, publicKey: string): void {
    if (publicKey === "") this.#runnerKeys.delete(nodeId);
    else this.#runnerKeys.set(nodeId, publicKey);
  }

  /** Makes sure one gateway has a runner's current key now (before an order path opens). */
  async ensureAuthorized(name: string, nodeId: string): Promise<void> {
    const link = this.#links.get(name);
    const key = this.#runnerKeys.get(nodeId);
    if (link !== undefined && key !== undefined) await this.#authorize(link, nodeId, key);
  }

  /** Pushes a runner's key to one gateway unless it has it already. */
  async #authorize(link: GatewayLink, nodeId: string, key: string): Promise<void> {
    if (link.authorized.get(nodeId) === key) return;
    await link.control.authorize(nodeId, key);
    link.authorized.set(nodeId, key);
    this.#log.info({ gateway: link.config.name, nodeId }, "runner key authorized at the gateway");
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
        const held = await link.control.runners();
        link.authorized.clear();
        for (const [nodeId, key] of Object.entries(held)) link.authorized.set(nodeId, key);
        link.listedAt = this.#now();
        const sent = this.#now();
        const accounts = await link.control.accounts();
        link.fenced = new Set(accounts.filter((a) => a.fence !== null).map((a) => a.account));
        link.fencedReadFrom = sent;
      }
      for (const [nodeId, key] of this.#runnerKeys) await this.#authorize(link, nodeId, key);
      // A runner that registered again without a key (CURVE turned off on it) keeps none, and a
      // node that has not registered since this orchestrator started has none either (once the
      // grace period is over): its key is revoked, so it can open no new connection.
      const revoking = this.#now() >= this.#revokeFrom;
      for (const nodeId of revoking ? [...link.authorized.keys()] : []) {
        if (this.#runnerKeys.has(nodeId)) continue;
        // Forgotten before the call, and not put back if it fails (a timed-out revoke may still
        // have been applied; a second one is harmless, and the next read of the gateway's keys
        // tells the truth): a runner that registers meanwhile gets its key pushed by
        // ensureAuthorized, on the same channel, so after the revoke.
        link.authorized.delete(nodeId);
        await link.control.revoke(nodeId);
        this.#log.info({ gateway: link.config.name, nodeId }, "runner key revoked at the gateway");
      }
      const wanted = this.#marketData.get(link.config.name);
      if (wanted !== undefined && wanted.join(" ") !== link.marketData) {
        await link.control.marketData(wanted);
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
