/**
 * `startGateway`: the broker gateway assembled — state directory, broker, core, ZeroMQ sockets
 * with CURVE and ZAP, the batch loop, market data and metrics — and its orderly close.
 *
 *   node K's runner ──CURVE (ZAP domain "node:K": K only)──▶ node K's orders ROUTER ─┐
 *   (one per node key a fence names, node-sockets.ts)                                 │
 *   orchestrator ──CURVE (ZAP domain "control": orchestrator keys)──▶ control ROUTER ─┤─▶ loop ─▶ core ─▶ broker
 *   feeders ──PUB/SUB───────────────────────────────────────────────▶ market data ────┘
 *
 * The shared orders ROUTER at `ordersListen` takes orders bound to no node: every client without
 * CURVE (--insecure), and with CURVE only the `unboundOrderKeys` of the benchmark's baseline
 * (none by default: its ZAP domain "orders" refuses every key). Node sockets listen on the host of
 * `ordersListen`; the orchestrator learns each one's port from its fence's answer.
 *
 * The gateway has its own ZeroMQ context, so its ZAP handler (one per context) cannot clash with
 * another component in the same process (`hive dev`, tests running several gateways).
 */
import type { Server } from "node:http";
import type Database from "better-sqlite3";
import { join } from "node:path";
import { collectDefaultMetrics, Gauge } from "prom-client";
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { silentLogger } from "../core/logger.ts";
import { ARCHIVE_DIR, AuditArchiver, queryUnarchived } from "./audit-archive.ts";
import type { BrokerAdapter } from "./broker-adapter.ts";
import { ControllerGuard } from "./controller-guard.ts";
import { GatewayCore } from "./gateway-core.ts";
import type { AccountView, GatewayStatus } from "./gateway-control.ts";
import { openGatewayDb, readMeta, writeMeta } from "./gateway-db.ts";
import { GatewayLoop } from "./gateway-loop.ts";
import { gatewayMetrics, serveMetrics } from "./gateway-metrics.ts";
import { compileGatewayOptions, type GatewayOptions } from "./gateway-options.ts";
import { MarketDataFeed } from "./market-data.ts";
import { NodeSockets } from "./node-sockets.ts";
import { PaperBroker } from "./paper-broker.ts";
import { PeerDisconnects } from "./peer-disconnects.ts";
import { WalCheckpointer } from "./wal-checkpointer.ts";
import { ZapHandler } from "./zap-handler.ts";

/** A running gateway. */
export interface RunningGateway {
  /**
   * The shared orders socket (the real port when 0 was asked): where runners send orders without
   * CURVE; with CURVE, each admitted node has its own (`nodePorts`, on the same host).
   */
  readonly ordersAddress: string;
  /** The admitted node keys and the ports of their orders sockets. */
  nodePorts(): Record<string, number>;
  /** Where the orchestrator sends control requests. */
  readonly controlAddress: string;
  /** The gateway's CURVE public key (Z85), or null when insecure. */
  readonly publicKey: string | null;
  /** http://host:port/metrics, when served. */
  readonly metricsAddress: string | undefined;
  /** The broker behind the gateway. */
  readonly broker: BrokerAdapter;
  /** The paper broker, when it is the broker (tests use its setPrice and fault hooks). */
  readonly paper: PaperBroker | undefined;
  /** Applies a market price in the gateway's next batch, as a market-data tick would. */
  setPrice(symbol: string, price: number): void;
  /** The counters, as the `status` op answers. */
  status(): GatewayStatus;
  /** The accounts, as the `accounts` op answers. */
  accounts(account?: string): AccountView[];
  /** Replies that could not be delivered. */
  replyDrops(): number;
  /** Connections peers lost on the orders and control sockets (peer-disconnects.ts). */
  peerDisconnects(): Readonly<Record<"orders" | "control", number>>;
  /**
   * Moves the audit rows past `auditArchiveAfterDays` to the archive files now (the gateway also
   * does it every minute); resolves with the number of rows moved.
   */
  archiveAudit(): Promise<number>;
  /** Rejects if the gateway stopped on its own (a failed batch); never resolves otherwise. */
  readonly failure: Promise<never>;
  /** Closes sockets, stops timers, closes the database. Idempotent. */
  close(): Promise<void>;
}

const ORDER_SOCKET_HWM = 200_000;

/** Starts a gateway; see the file comment. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const o = compileGatewayOptions(options);
  const log = options.log ?? silentLogger();
  const state = openGatewayDb(o.stateDir);
  const context = new zmq.Context();
  const closers: (() => Promise<void> | void)[] = [() => state.close()];
  const checkpointer = new WalCheckpointer(state.db, state.path, log);
  closers.push(() => checkpointer.close());
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
    closers.length = 0;
  };
  try {
    // The core, the node sockets and the feed are made before the loop they wake or feed, hence
    // the late binding.
    const late: { loop?: GatewayLoop } = {};
    /** Whether a batch failed (the gateway stopped on its own). */
    let failed = false;
    let paper: PaperBroker | undefined;
    const broker = options.broker?.(state.db) ?? (paper = new PaperBroker(state.db));
    closers.push(() => broker.close());
    let zap: ZapHandler | undefined;
    if (o.keyPair === undefined) {
      log.warn(
        "gateway: --insecure: no CURVE on the orders and control sockets; anyone who can connect may trade and fence",
      );
    } else {
      zap = new ZapHandler(context, log);
      const orchestrators = new Set(o.orchestratorKeys);
      zap.setRule("control", (key) => (orchestrators.has(key) ? "orchestrator" : undefined));
      const unbound = new Set(o.unboundOrderKeys);
      zap.setRule("orders", (key) => (unbound.has(key) ? "unbound" : undefined));
      const handler = zap;
      closers.push(() => handler.close());
    }
    const disconnects = new PeerDisconnects(log);
    // Node sockets: made before the core (which opens them as fences name keys), read by the loop.
    let nodes: NodeSockets | undefined;
    if (zap !== undefined && o.keyPair !== undefined) {
      nodes = new NodeSockets({
        context,
        zap,
        secretKey: o.keyPair.secretKey,
        host: o.ordersListen.replace(/:\d+$/, ""),
        ports: readNodePorts(state.db),
        remember: rememberPort(state.db),
        highWaterMark: ORDER_SOCKET_HWM,
        maxFrameBytes: o.config.messageLimits.orderFrame,
        disconnects,
        opened: (source) => late.loop?.read(source),
        log,
      });
      const opened = nodes;
      closers.push(() => opened.close());
    }
    const core = new GatewayCore({
      db: state.db,
      broker,
      config: o.config,
      passThrough: o.passThrough,
      log,
      now: options.now ?? Date.now,
      monotonicMs: () => performance.now(),
      wake: () => late.loop?.wake(),
      nodes,
    });
    // Runs once the loop has stopped (closers run in reverse): the refusals counted in the last
    // second get their summary rows, so a stopped gateway's log is whole (a crash leaves them in
    // audit_refusals_open, written at the next start instead).
    closers.push(() => {
      // After a failed batch the counts in memory may be ahead of the database: left unwritten.
      if (!state.db.open || failed) return;
      try {
        core.flushRefusals();
      } catch (err) {
        log.error(
          { err: HiveError.from(err) },
          "gateway: could not write the last refusal summaries at close",
        );
      }
    });
    const curve = (domain: string) =>
      o.keyPair === undefined
        ? {}
        : { curveServer: true, curveSecretKey: o.keyPair.secretKey, zapDomain: domain };
    const orders = new zmq.Router({
      context,
      linger: 0,
      sendTimeout: 0,
      sendHighWaterMark: ORDER_SOCKET_HWM,
      receiveHighWaterMark: ORDER_SOCKET_HWM,
      // A peer sending a bigger frame is disconnected before the frame is read (docs/gateway.md).
      maxMessageSize: o.config.messageLimits.orderFrame,
      ...curve("orders"),
    });
    const control = new zmq.Router({
      context,
      linger: 0,
      sendTimeout: 0,
      maxMessageSize: o.config.messageLimits.controlFrame,
      ...curve("control"),
    });
    closers.push(() => {
      orders.close();
      control.close();
    });
    disconnects.watch(orders, "orders", o.config.messageLimits.orderFrame);
    disconnects.watch(control, "control", o.config.messageLimits.controlFrame);
    orders.bindSync(anyPort(o.ordersListen));
    control.bindSync(anyPort(o.controlListen));

    const archiveDir = join(o.stateDir, ARCHIVE_DIR);
    const archiver = new AuditArchiver({
      db: state.db,
      dir: archiveDir,
      // Pass-through writes no audit rows.
      afterMs: o.passThrough ? 0 : o.config.auditArchiveAfterMs,
      now: options.now ?? Date.now,
      log,
    });
    closers.push(() => archiver.close());
    const metrics = gatewayMetrics(core, archiver, checkpointer.figures);
    new Gauge({
      name: "hive_gateway_peer_disconnects",
      help: "Connections peers lost on the orders and control sockets: the peer went away, or sent a frame over messageLimits (closed unread)",
      labelNames: ["socket"],
      registers: [metrics.registry],
      collect() {
        for (const [socket, n] of Object.entries(disconnects.counts)) this.set({ socket }, n);
      },
    });
    const feed = new MarketDataFeed(
      context,
      (symbol, price) => late.loop?.price(symbol, price),
      log,
      o.config.messageLimits.marketDataFrame,
    );
    closers.push(() => feed.close());
    const setMarketData = (sources: readonly string[]) => {
      feed.setSources(sources);
      writeMeta(state.db, "marketData", JSON.stringify(sources));
    };

    let fail: (err: HiveError) => void = () => undefined;
    const failure = new Promise<never>((_, reject) => {
      fail = reject;
    });
    // The caller observes `failure`; this only keeps a failure nobody awaits from being an
    // unhandled rejection (the loop has logged it as fatal already).
    failure.catch(() => undefined);
    const running = new GatewayLoop({
      db: state.db,
      core,
      broker,
      orders: [{ nodeKey: undefined, socket: orders }],
      control,
      controlDeps: {
        setMarketData,
        readAudit: (q) => queryUnarchived(state.db, q),
        controller: new ControllerGuard(state.db, options.now ?? Date.now),
        // The keys the fence table names now: a socket released by a fence earlier in the same
        // batch is still open until the commit, and must not be listed as admitted.
        nodePorts: () => {
          const named = core.nodeKeys();
          return Object.fromEntries(Object.entries(nodes?.ports() ?? {}).filter(([key]) => named.has(key)));
        },
      },
      log,
      onBatch: metrics.onBatch,
      onFatal: (err) => {
        failed = true;
        fail(err);
        void archiver.close();
        orders.close();
        control.close();
        nodes?.close();
      },
      // A fence that moved an account away from a node may leave its key named by none: its
      // socket closes now, dropping its connections, before the orchestrator hears the answer.
      afterControl: () => nodes?.retain(core.nodeKeys()),
    });
    late.loop = running;
    // The keys the fence table names at start get their sockets back (on their ports).
    for (const key of core.nodeKeys()) nodes?.admit(key);
    // The loop's reads end once the sockets are closed, so it is awaited after closing them.
    closers.push(async () => {
      orders.close();
      control.close();
      nodes?.close();
      await running.close();
    });

    archiver.start();
    const initial: unknown = o.marketData ?? JSON.parse(readMeta(state.db, "marketData") ?? "[]");
    if (Array.isArray(initial) && initial.length > 0) feed.setSources(initial as string[]);

    let server: Server | undefined;
    if (o.metricsListen !== undefined) {
      // The process's own figures too (CPU, memory, GC, event-loop delay), as the orchestrator's.
      collectDefaultMetrics({ register: metrics.registry });
      server = await serveMetrics(metrics.registry, o.metricsListen.host, o.metricsListen.port);
      const s = server;
      closers.push(() => new Promise<void>((resolve) => s.close(() => resolve())));
    }
    const address = server?.address();
    const metricsAddress =
      typeof address === "object" && address !== null
        ? `http://${o.metricsListen?.host}:${address.port}/metrics`
        : undefined;

    let closing: Promise<void> | undefined;
    log.info(
      {
        orders: orders.lastEndpoint,
        control: control.lastEndpoint,
        publicKey: o.keyPair?.publicKey ?? null,
        passThrough: o.passThrough,
      },
      "gateway started",
    );
    return {
      ordersAddress: orders.lastEndpoint ?? o.ordersListen,
      nodePorts: () => nodes?.ports() ?? {},
      controlAddress: control.lastEndpoint ?? o.controlListen,
      publicKey: o.keyPair?.publicKey ?? null,
      metricsAddress,
      broker,
      paper,
      setPrice: (symbol, price) => running.price(symbol, price),
      status: () => core.status(),
      accounts: (account) => core.accounts(account),
      replyDrops: () => running.replyDrops,
      peerDisconnects: () => ({ ...disconnects.counts }),
      archiveAudit: () => archiver.archiveNow(),
      failure,
      close: () => {
        closing ??= closeAll().then(() => log.info("gateway closed"));
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    throw HiveError.from(err, ErrorCode.FailedPrecondition);
  }
}

/** The node sockets' ports written down, by key. */
function readNodePorts(db: Database.Database): Map<string, number> {
  return new Map(db.prepare("SELECT public_key, port FROM node_ports").raw().all() as [string, number][]);
}

/** Writes down the port of a node's socket (inside the batch that opened it, or at start). */
function rememberPort(db: Database.Database): (publicKey: string, port: number) => void {
  const statement = db.prepare(
    "INSERT INTO node_ports (public_key, port) VALUES (?, ?) ON CONFLICT (public_key) DO UPDATE SET port = excluded.port",
  );
  return (publicKey, port) => statement.run(publicKey, port);
}

/** ZeroMQ spells "any free port" `*`; we accept 0 too. */
function anyPort(address: string): string {
  return address.replace(/:0$/, ":*");
}
