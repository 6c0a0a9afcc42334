/**
 * A whole Hive for the fault tests and the failover benchmark, every part a real process:
 *
 *   root namespace:  gateway (orders on address B, control on 127.0.0.1), orchestrator (runner
 *                    protocol on address A, HTTP API on 127.0.0.1), a market-data feeder
 *   namespace r1..rN: one live runner each, reaching A and B through its veth; the runner spawns
 *                    the strategy (test/faults/programs/order-pinger.mjs) in its cgroup
 *
 * A and B are two addresses on the root namespace's `lo`, so a test can cut a runner from the
 * orchestrator only (cutTo(A)), from the gateway only (cutTo(B)), or from both. The layout runs
 * the pinger with one warm standby, trading one account through the gateway with CURVE on every
 * hop; the runner link is mutual TLS (A is not a loopback address). After a fault the gateway's audit log (read straight from its SQLite file) is the evidence:
 * `auditReport` checks it and measures the failover.
 */
import { once } from "node:events";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { ApiClient } from "../../src/cli/api-client.ts";
import { readAudit, type AuditRecord } from "../../src/gateway/index.ts";
import {
  caPaths,
  initClusterCa,
  issueNodePem,
  issueServerPem,
  loadClusterCa,
  writeIssued,
} from "../../src/security/pki/index.ts";
import { queryAudit, refusalsIn } from "../../src/gateway/audit.ts";
import { DB_FILE } from "../../src/gateway/gateway-db.ts";
import type { CurveKeyPair } from "../../src/core/z85.ts";
import { keyPairPath, loadOrCreateKeyPair } from "../../src/gateway/keys.ts";
import { envelope, OrderClient, type Reply } from "../../src/gateway/testing/order-client.ts";
import type { DeploymentView } from "../../src/orchestrator/control-plane.ts";
import { loadCurveKeyPair } from "../../src/runner/post-office/curve-keys.ts";
import { createNamespace, processes, type ManagedProcess, type Namespace } from "./lib/index.ts";
import { until as poll } from "../../src/core/testing/until.ts";
import { destroyCgroupParent } from "../../src/runner/cgroups/index.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const HIVE = join(ROOT, "bin/hive.cjs");
const RUNNER = join(ROOT, "bin/trading-runner.cjs");
export const ACCOUNT = "acct-f";
export const LAYOUT = "ft";
export const SERVICE = "pinger";

/** Timings of the cluster under test (the orchestrator's flags; the runner follows its acks). */
export interface FaultTimings {
  readonly heartbeatMs: number;
  readonly leaseMs: number;
  readonly downAfterMs: number;
}

/** The defaults of `hive orchestrator`, which the failover target is about. */
export const DEFAULT_FAULT_TIMINGS: FaultTimings = { heartbeatMs: 150, leaseMs: 400, downAfterMs: 1_000 };

/** One runner of the cluster. */
export interface FaultRunner {
  readonly nodeId: string;
  readonly ns: Namespace;
  proc: ManagedProcess;
  readonly config: string;
  /** http://ns:port/metrics with the runnerMetrics option. */
  readonly metricsUrl?: string;
}

/** Options of {@link FaultCluster.start}. */
export interface FaultClusterOptions {
  readonly runners?: number;
  readonly timings?: FaultTimings;
  /** The pinger's order period (ms). */
  readonly periodMs?: number;
  /** Put the orchestrator → gateway control channel through this host:port instead (a DelayProxy). */
  readonly controlVia?: (control: { host: string; port: number }) => Promise<{ host: string; port: number }>;
  /** Serve each runner's Prometheus metrics on its namespace address (see {@link FaultCluster.orderPathFigures}). */
  readonly runnerMetrics?: boolean;
  /** Extra environment of the gateway process. */
  readonly gatewayEnv?: NodeJS.ProcessEnv;
  /**
   * A late broker: the gateway process runs with this broker timeout, and its paper broker holds
   * the answers (and fills) of orders whose clientOrderId matches `delayIdPattern` for `delayMs`
   * while still executing them (PaperBroker.delayAnswers, reached in the gateway's own process).
   */
  readonly lateBroker?: {
    readonly delayIdPattern: string;
    readonly delayMs: number;
    readonly brokerTimeoutMs: number;
  };
}

/**
 * The gateway process with a late broker: test/faults/programs/gateway-process.ts's work, plus the
 * paper broker's fault hook, which only exists inside the gateway's process. Options come in
 * HIVE_FT_GATEWAY (JSON), the fault in HIVE_FT_LATE_BROKER (JSON).
 */
const LATE_BROKER_GATEWAY = `
const { startGateway, compileGatewayConfig } = await import(${JSON.stringify(join(ROOT, "src/gateway/index.ts"))});
const { createLogger } = await import(${JSON.stringify(join(ROOT, "src/core/logger.ts"))});
const options = JSON.parse(process.env.HIVE_FT_GATEWAY);
const late = JSON.parse(process.env.HIVE_FT_LATE_BROKER);
const gateway = await startGateway({
  ...options,
  config: compileGatewayConfig({ brokerTimeoutMs: late.brokerTimeoutMs }),
  log: createLogger("gateway"),
});
const match = new RegExp(late.delayIdPattern);
gateway.paper.delayAnswers((o) => match.test(o.clientOrderId), late.delayMs);
console.log(JSON.stringify({ event: "gateway-ready", orders: gateway.ordersAddress, lateBroker: late }));
const stop = () => void gateway.close().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
`;

/** The gateway's database read in one transaction: the audit log and both books, consistent. */
export interface GatewaySnapshot {
  readonly audit: AuditRecord[];
  /** The gateway's own books: account → symbol → net quantity. */
  readonly books: Record<string, Record<string, number>>;
  /** The paper broker's positions, the same way. */
  readonly broker: Record<string, Record<string, number>>;
  /** Submissions of an id the paper broker had already seen, which it refused (must be 0). */
  readonly brokerDuplicateSubmissions: number;
}

/**
 * Reads the audit log, the gateway's books and the paper broker's positions from the gateway's
 * SQLite file in one read transaction, so the three agree on the same batch even while it trades
 * (the gateway writes all three in one transaction per batch).
 */
export function readSnapshot(stateDir: string): GatewaySnapshot {
  const db = new Database(join(stateDir, DB_FILE), { readonly: true, fileMustExist: true, timeout: 5_000 });
  try {
    const nested = (rows: { account: string; symbol: string; qty: number }[]) => {
      const out: Record<string, Record<string, number>> = {};
      for (const r of rows) (out[r.account] ??= {})[r.symbol] = r.qty;
      return out;
    };
    const positions = (table: string) =>
      nested(
        db.prepare(`SELECT account, symbol, qty FROM ${table}`).all() as {
          account: string;
          symbol: string;
          qty: number;
        }[],
      );
    return db.transaction(() => ({
      audit: queryAudit(db),
      books: positions("positions"),
      broker: positions("paper_positions"),
      brokerDuplicateSubmissions: Number(
        db.prepare("SELECT value FROM paper_meta WHERE key = 'duplicateSubmissions'").pluck().get() ?? 0,
      ),
    }))();
  } finally {
    db.close();
  }
}

/** A free TCP port on `host` (bound and released; the kernel does not hand it out again at once). */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Polls `probe` until it returns something other than undefined/false (20 s by default, every 25 ms). */
export function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 20_000,
): Promise<T> {
  return poll(what, probe, ms, 25);
}

/**
 * Sends one order stamped (deploymentId, epoch) on `client` — a resting buy of ACCOUNT far below
 * the market, so it never fills — and resolves with the gateway's first answer to it.
 */
export async function sendProbe(
  client: OrderClient,
  deploymentId: string,
  epoch: string | bigint,
  clientOrderId: string,
  timeoutMs: number,
): Promise<Reply> {
  await client.send(
    envelope(deploymentId, epoch, { account: ACCOUNT, clientOrderId, type: "limit", side: "buy", price: 1 }),
  );
  return client.next((x) => x.clientOrderId === clientOrderId && x.type !== "fill", timeoutMs);
}

/** The gateway's answers to an order stamped as the old active, from its node and from the new active's. */
export interface OldActiveProbes {
  readonly fromOldNode: Reply;
  readonly fromNewNode: Reply;
}

/** See the file comment. */
export class FaultCluster {
  readonly dir: string;
  readonly runners: FaultRunner[] = [];
  gateway!: ManagedProcess;
  orchestrator!: ManagedProcess;
  api!: ApiClient;
  /** Address A (orchestrator) and B (gateway orders) on the root namespace's lo. */
  orchestratorHost = "";
  gatewayHost = "";
  /** Where runners send orders (tcp://B:port) and the gateway's CURVE public key. */
  ordersAddress = "";
  gatewayPublicKey = "";
  /** The orchestrator's CURVE key pair (admitted on the gateway's control socket). */
  orchestratorKeys!: CurveKeyPair;
  readonly gatewayState: string;
  readonly timings: FaultTimings;
  private feeder: ManagedProcess | undefined;
  private gatewayArgs = "";
  private orchestratorArgv: string[] = [];
  private readonly tag = `${process.pid % 100_000}`;
  /** The first deployment uid of this cluster's runners: per test process, 100 per runner. */
  private readonly uidBase = 1_000_000 + (process.pid % 100_000) * 1_000;

  private constructor(readonly options: FaultClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "hive-ft-"));
    // mkdtemp makes it 0700: the strategies' uids (the runners are root) pass through it to their
    // ipc sockets and datasets.
    chmodSync(this.dir, 0o711);
    this.gatewayState = join(this.dir, "gateway");
    this.timings = options.timings ?? DEFAULT_FAULT_TIMINGS;
  }

  /** A cluster CA under the kit's directory, the orchestrator's certificate (its address) and each runner's. */
  private async makeCertificates() {
    const caDir = join(this.dir, "ca");
    await initClusterCa(caDir);
    const ca = await loadClusterCa(caDir);
    const orchestrator = writeIssued(
      join(caDir, "orchestrator"),
      await issueServerPem(ca, [this.orchestratorHost]),
    );
    const nodes = [];
    for (const r of this.runners)
      nodes.push(writeIssued(join(caDir, r.nodeId), await issueNodePem(ca, r.nodeId)));
    return { ca: caPaths(caDir).cert, orchestrator, nodes };
  }

  /** Brings the whole cluster up and applies the pinger layout; resolves once the active trades. */
  static async start(options: FaultClusterOptions = {}): Promise<FaultCluster> {
    const c = new FaultCluster(options);
    try {
      await c.up();
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  private async up(): Promise<void> {
    const count = this.options.runners ?? 2;
    for (let i = 1; i <= count; i++) {
      const ns = await createNamespace(`r${i}`);
      this.runners.push({
        nodeId: `ft${this.tag}-r${i}`,
        ns,
        proc: undefined as unknown as ManagedProcess,
        config: "",
      });
    }
    const first = this.runners[0]!.ns;
    this.orchestratorHost = await first.addHostAddress();
    this.gatewayHost = await first.addHostAddress();

    // Keys: the orchestrator's (control channel) and the gateway's, made here so both sides know them.
    const orchestratorKey = join(this.dir, "orchestrator.key");
    this.orchestratorKeys = loadOrCreateKeyPair(orchestratorKey);
    const orchestratorPublic = this.orchestratorKeys.publicKey;
    const gatewayPublic = loadOrCreateKeyPair(keyPairPath(join(this.dir, "gateway-keys"))).publicKey;
    this.gatewayPublicKey = gatewayPublic;

    const feederPort = await freePort("127.0.0.1");
    this.feeder = processes.startCommand(
      [
        process.execPath,
        join(ROOT, "examples/programs/feeder.mjs"),
        "--symbols",
        "ESZ6",
        "--rate",
        "50",
        "--port",
        String(feederPort),
      ],
      { name: "feeder", cwd: ROOT },
    );
    const controlPort = await freePort("127.0.0.1");
    const ordersPort = await freePort(this.gatewayHost);
    this.ordersAddress = `tcp://${this.gatewayHost}:${ordersPort}`;
    this.gatewayArgs = JSON.stringify({
      stateDir: this.gatewayState,
      ordersListen: `tcp://${this.gatewayHost}:${ordersPort}`,
      controlListen: `tcp://127.0.0.1:${controlPort}`,
      keysDir: join(this.dir, "gateway-keys"),
      orchestratorKeys: [orchestratorPublic],
      marketData: [`tcp://127.0.0.1:${feederPort}`],
    });
    await this.startGateway();

    const control = this.options.controlVia
      ? await this.options.controlVia({ host: "127.0.0.1", port: controlPort })
      : { host: "127.0.0.1", port: controlPort };
    const runnerPort = await freePort(this.orchestratorHost);
    const httpPort = await freePort("127.0.0.1");
    // The orchestrator listens for runners on a non-loopback address (the runners are in their
    // own network namespaces): the link is mutual TLS, with a CA made for the cluster.
    const tls = await this.makeCertificates();
    const t = this.timings;
    this.orchestratorArgv = [
      process.execPath,
      HIVE,
      "orchestrator",
      "--store",
      `sqlite:${join(this.dir, "orchestrator.db")}`,
      "--runner-listen",
      `${this.orchestratorHost}:${runnerPort}`,
      "--http-listen",
      `127.0.0.1:${httpPort}`,
      "--heartbeat-ms",
      String(t.heartbeatMs),
      "--runner-lease-ms",
      String(t.leaseMs),
      "--down-after-ms",
      String(t.downAfterMs),
      "--gateway",
      `name=paper,orders=tcp://${this.gatewayHost}:${ordersPort},control=tcp://${control.host}:${control.port},key=${gatewayPublic}`,
      "--curve-key-file",
      orchestratorKey,
      "--admin-token-file",
      join(this.dir, "admin.token"),
      "--tls-cert",
      tls.orchestrator.cert,
      "--tls-key",
      tls.orchestrator.key,
      "--tls-ca",
      tls.ca,
    ];
    await this.startOrchestrator();
    this.api = new ApiClient(`http://127.0.0.1:${httpPort}`, {
      token: readFileSync(join(this.dir, "admin.token"), "utf8").trim(),
    });

    for (const [i, r] of this.runners.entries()) {
      const base = join(this.dir, `r${i + 1}`);
      mkdirSync(base, { recursive: true });
      const config = join(base, "runner.yaml");
      writeFileSync(
        config,
        [
          `nodeId: ${r.nodeId}`,
          "pool: live",
          "tags: [live_node]",
          `orchestrators: [https://${this.orchestratorHost}:${runnerPort}]`,
          `tls: { ca: ${tls.ca}, cert: ${tls.nodes[i]?.cert}, key: ${tls.nodes[i]?.key} }`,
          `advertiseHost: ${r.ns.nsAddress}`,
          `portRange: { first: ${30_000 + i * 100}, last: ${30_099 + i * 100} }`,
          // Runners sharing a machine need uid ranges of their own (docs/security.md).
          `deploymentUids: { first: ${this.uidBase + i * 100}, last: ${this.uidBase + i * 100 + 99} }`,
          `stateDir: ${base}/state`,
          `runDir: ${base}/run`,
          `datasets: { dir: ${base}/ds, budget: 64MiB }`,
          "stopGraceMs: 300",
          `cgroupParent: hivet-${this.tag}-r${i + 1}`,
          `curveKeyFile: ${base}/curve.key`,
          // The kill after a self-fence comes 10 s after the lease by default (long enough for an
          // orchestrator restart to kill nothing); 1 s here, so the tests see it happen.
          "selfFenceKillAfterMs: 1000",
          ...(this.options.runnerMetrics ? [`metricsListen: "${r.ns.nsAddress}:9464"`] : []),
          "",
        ].join("\n"),
      );
      Object.assign(r, {
        config,
        ...(this.options.runnerMetrics ? { metricsUrl: `http://${r.ns.nsAddress}:9464/metrics` } : {}),
      });
      r.proc = this.startRunner(r);
    }
    await until("every runner registered", async () => {
      const nodes = await this.api.listNodes().catch(() => []);
      return nodes.filter((n) => n.health === "ready").length === this.runners.length || undefined;
    });
    await this.api.applyLayout(pingerLayout(this.options.periodMs ?? 20), "ft.yaml");
    const active = await until("the active running", async () => this.role("active"));
    await this.waitForAccepted(active.id, 0);
    await until("the standby running", async () => this.role("standby"));
    await new Promise((r) => setTimeout(r, 600)); // trading for a while: orders resting, ids to replay
  }

  /** Starts (or restarts) the gateway process on its state directory and addresses. */
  async startGateway(): Promise<void> {
    const late = this.options.lateBroker;
    this.gateway = late
      ? processes.startCommand(
          [
            process.execPath,
            "--import",
            import.meta.resolve("tsx"),
            "--input-type=module",
            "-e",
            LATE_BROKER_GATEWAY,
          ],
          {
            name: "gateway",
            cwd: ROOT,
            env: {
              HIVE_LOG_LEVEL: "warn",
              HIVE_FT_GATEWAY: this.gatewayArgs,
              HIVE_FT_LATE_BROKER: JSON.stringify(late),
              ...this.options.gatewayEnv,
            },
          },
        )
      : processes.start(join(ROOT, "test/faults/programs/gateway-process.ts"), {
          args: [this.gatewayArgs],
          name: "gateway",
          cwd: ROOT,
          env: { HIVE_LOG_LEVEL: "warn", ...this.options.gatewayEnv },
        });
    await this.gateway.waitForLine((l) => l.json?.["event"] === "gateway-ready", 20_000);
  }

  /** Starts (or restarts) the orchestrator process on its store. */
  async startOrchestrator(): Promise<void> {
    this.orchestrator = processes.startCommand(this.orchestratorArgv, { name: "orchestrator", cwd: ROOT });
    await this.orchestrator.waitForLine((l) => /orchestrator: runners connect to/.test(l.text), 20_000);
  }

  /** Starts (or restarts) a runner inside its namespace. */
  startRunner(r: FaultRunner): ManagedProcess {
    return processes.startCommand([process.execPath, RUNNER, "--config", r.config], {
      name: r.nodeId,
      netns: r.ns,
      cwd: ROOT,
    });
  }

  /** The runner a deployment runs on. */
  runnerOf(d: DeploymentView): FaultRunner {
    const r = this.runners.find((x) => x.nodeId === d.nodeId);
    if (!r) throw new Error(`no runner ${d.nodeId} for ${d.id}`);
    return r;
  }

  /** The pinger's running instance of that role, if any. */
  async role(role: "active" | "standby"): Promise<DeploymentView | undefined> {
    const ds = await this.api.listDeployments({ layout: LAYOUT }).catch(() => []);
    return ds.find((d) => d.service === SERVICE && d.role === role && d.phase === "running");
  }

  /** The gateway's audit log so far. */
  audit(): AuditRecord[] {
    return readAudit(this.gatewayState);
  }

  /** The audit log and both books, read consistently (see {@link readSnapshot}). */
  snapshot(): GatewaySnapshot {
    return readSnapshot(this.gatewayState);
  }

  /** The pinger's deployment of that role in any phase (the newest if several), if any. */
  async anyRole(role: "active" | "standby"): Promise<DeploymentView | undefined> {
    const ds = await this.api.listDeployments({ layout: LAYOUT }).catch(() => []);
    const live = ds.filter(
      (d) => d.service === SERVICE && d.role === role && ["pending", "starting", "running"].includes(d.phase),
    );
    return live.find((d) => d.phase === "running") ?? live.at(-1);
  }

  /** A deployment by id, as the orchestrator lists it (undefined once forgotten). */
  async deployment(id: string): Promise<DeploymentView | undefined> {
    const ds = await this.api.listDeployments({ layout: LAYOUT }).catch(() => undefined);
    return ds?.find((d) => d.id === id);
  }

  /** The CURVE key pair of a runner (the gateway admits it while a fence names its node). */
  runnerKeys(r: FaultRunner): CurveKeyPair {
    return loadCurveKeyPair(join(dirname(r.config), "curve.key")).keys;
  }

  /**
   * The gateway's orders socket for runner `r`'s node (tcp://B:port, read from the gateway's
   * state), and whether a fence names its key now (the socket is open only then).
   */
  nodeOrders(r: FaultRunner): { address: string; admitted: boolean } {
    const key = this.runnerKeys(r).publicKey;
    const db = new Database(join(this.gatewayState, DB_FILE), {
      readonly: true,
      fileMustExist: true,
      timeout: 5_000,
    });
    try {
      const port = db.prepare("SELECT port FROM node_ports WHERE public_key = ?").pluck().get(key) as
        number | undefined;
      const named = db.prepare("SELECT count(*) FROM fences WHERE node_key = ?").pluck().get(key) as number;
      return {
        address: port === undefined ? this.ordersAddress : `tcp://${this.gatewayHost}:${port}`,
        admitted: port !== undefined && named > 0,
      };
    } finally {
      db.close();
    }
  }

  /**
   * A DEALER with a runner's CURVE key on its node's orders socket at the gateway (the shared one
   * if it never had one): sends envelopes stamped with any deployment and epoch, as a runner would
   * (to show what the gateway does with them).
   */
  orderClient(r: FaultRunner): OrderClient {
    return new OrderClient(this.nodeOrders(r).address, {
      serverKey: this.gatewayPublicKey,
      keys: this.runnerKeys(r),
    });
  }

  /**
   * Sends one order stamped (deploymentId, epoch) straight to the gateway with runner `r`'s key
   * (a resting buy far below the market) and resolves with the gateway's first answer. A node
   * that hosts nothing fenced at the gateway cannot connect at all: then the answer is
   * `{type: "none", code: "not-admitted"}`, once nothing came back within a second and the
   * gateway's audit shows nothing of it.
   */
  async probeOrder(
    r: FaultRunner,
    deploymentId: string,
    epoch: string,
    clientOrderId: string,
  ): Promise<Reply> {
    const admitted = this.nodeOrders(r).admitted;
    const client = this.orderClient(r);
    try {
      if (admitted) return await sendProbe(client, deploymentId, epoch, clientOrderId, 5_000);
      const answer = await sendProbe(client, deploymentId, epoch, clientOrderId, 1_000).catch(
        () => undefined,
      );
      if (answer !== undefined) return answer;
      if (this.audit().some((x) => x.clientOrderId === clientOrderId))
        throw new Error(
          `${clientOrderId} reached the gateway from a node that is not admitted, with no answer`,
        );
      return { type: "none", code: "not-admitted", account: ACCOUNT, clientOrderId };
    } finally {
      await client.close();
    }
  }
  /**
   * The two probes a zombie test sends once the standby has taken over, both stamped as the old
   * active (its id and epoch, tagged `tag`): from the old active's node, which hosts nothing fenced
   * any more and so cannot even connect, and from the new active's node, admitted, where the fence
   * refuses it. Check them with assertOldActiveProbes (fault-assert.ts).
   */
  async probeOldActive(
    active: DeploymentView,
    standby: DeploymentView,
    tag: string,
  ): Promise<OldActiveProbes> {
    const fromOldNode = await this.probeOrder(this.runnerOf(active), active.id, active.epoch, tag);
    const fromNewNode = await this.probeOrder(
      this.runnerOf(standby),
      active.id,
      active.epoch,
      `${tag}-new-node`,
    );
    return { fromOldNode, fromNewNode };
  }

  /**
   * A deployment's order path as its runner counts it (the runnerMetrics option): orders
   * forwarded to the gateway, and orders not forwarded by reason (closed, unreachable, ...).
   */
  async orderPathFigures(
    r: FaultRunner,
    deploymentId: string,
  ): Promise<{ forwarded: number; drops: Record<string, number> }> {
    if (r.metricsUrl === undefined) throw new Error("start the cluster with runnerMetrics: true");
    const text = await (await fetch(r.metricsUrl, { signal: AbortSignal.timeout(5_000) })).text();
    const drops: Record<string, number> = {};
    let forwarded = 0;
    for (const line of text.split("\n")) {
      if (!line.includes(`deployment="${deploymentId}"`)) continue;
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      const reason = /reason="([^"]+)"/.exec(line)?.[1];
      if (line.startsWith("hive_order_path_drops{") && reason !== undefined) drops[reason] = value;
      if (line.startsWith("hive_route_messages{") && line.includes('socket="orders"')) forwarded = value;
    }
    return { forwarded, drops };
  }

  /** The runner's JSON log lines whose msg matches (pino lines on its stderr), with their time (ms). */
  runnerEvents(
    r: FaultRunner,
    msg: RegExp,
    proc: ManagedProcess = r.proc,
  ): { at: number; line: Record<string, unknown> }[] {
    return proc.lines
      .filter((l) => l.json !== undefined && msg.test(String(l.json["msg"])))
      .map((l) => ({ at: Number(l.json?.["time"]), line: l.json ?? {} }));
  }

  /** Waits for the runner's log line saying its lease ran out and its order paths closed (after line `since`). */
  waitForSelfFence(r: FaultRunner, since: number) {
    return r.proc.waitForLine((l) => /^self-fenced: the lease ran out/.test(String(l.json?.["msg"])), 5_000, {
      since,
    });
  }

  /** The runner's self-fence kill (its live processes killed after the grace) at or after `afterMs`, if any. */
  selfFenceKill(r: FaultRunner, afterMs: number) {
    return this.runnerEvents(r, /^self-fenced: lease still lost after the grace/).find(
      (e) => e.at >= afterMs,
    );
  }

  /** Resolves with the first order accepted from `deploymentId` decided at or after `afterMs`. */
  async waitForAccepted(deploymentId: string, afterMs: number, ms = 20_000): Promise<AuditRecord> {
    let seq = 0;
    return until(
      `an order accepted from ${deploymentId}`,
      () => {
        for (const r of readAudit(this.gatewayState, { afterSeq: seq })) {
          seq = r.seq;
          if (
            r.kind === "order" &&
            r.outcome === "accepted" &&
            r.deploymentId === deploymentId &&
            r.decidedAtMs >= afterMs
          )
            return r;
        }
        return undefined;
      },
      ms,
    );
  }

  /** Timestamps (ms since the epoch) of the orchestrator's log lines matching `msg`. */
  orchestratorEvents(msg: string): number[] {
    return this.orchestrator.lines
      .filter((l) => l.json?.["msg"] === msg)
      .map((l) => Number(l.json?.["time"]));
  }

  /** Stops every process, removes namespaces, cgroups and the temp directory. */
  async close(): Promise<void> {
    await processes.killAll();
    for (const r of this.runners) await r.ns.destroy().catch(() => undefined);
    // The strategies of a SIGKILLed runner outlive it (as on a real lost node): end them.
    for (let i = 1; i <= this.runners.length; i++) await destroyCgroupParent(`hivet-${this.tag}-r${i}`);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The layout of the fault tests: the pinger with a warm standby, trading ACCOUNT through `paper`. */
export function pingerLayout(periodMs: number): string {
  return `name: ${LAYOUT}
services:
  - name: ${SERVICE}
    kind: strategy
    pool: live
    command: node
    args: [test/faults/programs/order-pinger.mjs]
    env: { ACCOUNT: ${ACCOUNT}, PERIOD_MS: "${periodMs}" }
    accounts: [${ACCOUNT}]
    resources: { cores: 0.2, memory: 128MiB }
    tags: { required: [live_node] }
    sockets:
      consumes:
        - { name: orders, pattern: dealer }
    restart: { policy: always, initialBackoffMs: 200, maxBackoffMs: 1000 }
    standby: 1
gateways:
  - { name: paper, orders: [${SERVICE}.orders] }
`;
}

// ------------------------------------------------------------------------------------------ audit

/** What a fault test reports (and asserts), from the gateway's audit log. */
export interface FaultReport {
  readonly scenario: string;
  readonly seed?: number;
  /** Orders seen per deployment and epoch: accepted, rejected (by code), duplicates. */
  readonly perDeployment: Record<
    string,
    { accepted: number; rejected: Record<string, number>; duplicate: number }
  >;
  /** Orders accepted while the fence named another deployment or epoch (must be 0). */
  readonly fencedAccepted: number;
  /** Orders accepted from a deployment after the account was fenced away from it (must be 0). */
  readonly acceptedAfterFencedOut: number;
  /** clientOrderIds accepted (sent to the broker) more than once (must be 0). */
  readonly duplicateExecutions: number;
  /** clientOrderIds filled more than once (qty 1 each; must be 0). */
  readonly duplicateFills: number;
  /** First acceptance from the new deployment minus the last from the old one (ms, never negative). */
  readonly overlapGapMs: number | null;
  /** Fault → first order accepted from the new deployment (ms). */
  readonly faultToFirstOrderMs: number | null;
  /** Fault → the gateway fenced to the new deployment (ms). */
  readonly faultToFenceMs: number | null;
  /** Net position from the audited fills vs the gateway's own books (must match). */
  readonly positionFromFills: number;
  /**
   * Accepted orders that went back in time on their account: an epoch lower than one accepted
   * before it, or the same epoch from another deployment (must be 0: once a newer epoch is
   * accepted, no older one ever again, and one epoch is one deployment).
   */
  readonly epochRegressions: number;
}

/**
 * Reads the audit log as a proof: replays fence changes in order and checks every accepted order
 * against the fence in force when it was decided.
 */
export function auditReport(
  scenario: string,
  records: readonly AuditRecord[],
  change: { from: string; to: string; faultAtMs: number } | undefined,
  seed?: number,
): FaultReport {
  const fence = new Map<string, { deploymentId: string; epoch: string }>();
  const fencedOut = new Map<string, Set<string>>();
  const perDeployment: FaultReport["perDeployment"] = {};
  const accepted = new Map<string, number>();
  const fills = new Map<string, number>();
  let fencedAccepted = 0;
  let acceptedAfterFencedOut = 0;
  let position = 0;
  let lastOld: number | undefined;
  let firstNew: number | undefined;
  let fenceAt: number | undefined;
  let epochRegressions = 0;
  const newest = new Map<string, { epoch: bigint; deploymentId: string }>();
  for (const r of records) {
    const account = r.account ?? "";
    if (r.kind === "fence" && r.outcome === "fenced" && r.deploymentId && r.epoch) {
      const before = fence.get(account);
      if (before && before.deploymentId !== r.deploymentId) {
        const out = fencedOut.get(account) ?? new Set<string>();
        out.add(before.deploymentId);
        out.delete(r.deploymentId);
        fencedOut.set(account, out);
      }
      fence.set(account, { deploymentId: r.deploymentId, epoch: r.epoch });
      if (
        change &&
        r.deploymentId === change.to &&
        fenceAt === undefined &&
        r.decidedAtMs >= change.faultAtMs
      )
        fenceAt = r.decidedAtMs;
      continue;
    }
    if (r.kind === "fill" && r.clientOrderId) {
      const k = `${account}/${r.clientOrderId}`;
      fills.set(k, (fills.get(k) ?? 0) + 1);
      try {
        const d = JSON.parse(r.detail ?? "{}") as { side?: string; qty?: number };
        position += (d.side === "sell" ? -1 : 1) * (d.qty ?? 0);
      } catch {
        // the detail is the gateway's own JSON; an unreadable one is counted nowhere
      }
      continue;
    }
    if (r.kind !== "order") continue;
    const dep = `${r.deploymentId ?? "?"}@${r.epoch ?? "?"}`;
    const row = (perDeployment[dep] ??= { accepted: 0, rejected: {}, duplicate: 0 });
    if (r.outcome === "duplicate") row.duplicate++;
    // A refusal's own row, or a summary row counting many (refusal-audit.ts).
    else if (refusalsIn(r) > 0)
      row.rejected[r.code ?? "?"] = (row.rejected[r.code ?? "?"] ?? 0) + refusalsIn(r);
    else if (r.outcome === "accepted") {
      row.accepted++;
      const epoch = /^\d+$/.test(r.epoch ?? "") ? BigInt(r.epoch ?? "0") : -1n;
      const top = newest.get(account);
      if (top && (epoch < top.epoch || (epoch === top.epoch && r.deploymentId !== top.deploymentId)))
        epochRegressions++;
      else newest.set(account, { epoch, deploymentId: r.deploymentId ?? "" });
      const f = fence.get(account);
      if (!f || f.deploymentId !== r.deploymentId || f.epoch !== r.epoch) fencedAccepted++;
      if (r.deploymentId && fencedOut.get(account)?.has(r.deploymentId)) acceptedAfterFencedOut++;
      const k = `${account}/${r.clientOrderId ?? ""}`;
      accepted.set(k, (accepted.get(k) ?? 0) + 1);
      if (change && r.deploymentId === change.from) lastOld = r.decidedAtMs;
      if (
        change &&
        r.deploymentId === change.to &&
        firstNew === undefined &&
        r.decidedAtMs >= change.faultAtMs
      )
        firstNew = r.decidedAtMs;
    }
  }
  const count = (m: Map<string, number>) => [...m.values()].filter((n) => n > 1).length;
  return {
    scenario,
    ...(seed === undefined ? {} : { seed }),
    perDeployment,
    fencedAccepted,
    acceptedAfterFencedOut,
    duplicateExecutions: count(accepted),
    duplicateFills: count(fills),
    overlapGapMs: lastOld !== undefined && firstNew !== undefined ? firstNew - lastOld : null,
    faultToFirstOrderMs: change && firstNew !== undefined ? firstNew - change.faultAtMs : null,
    faultToFenceMs: change && fenceAt !== undefined ? fenceAt - change.faultAtMs : null,
    positionFromFills: position,
    epochRegressions,
  };
}

/** Net positions (account → symbol → quantity) from the fills of an audit log. */
export function positionsFromFills(records: readonly AuditRecord[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const r of records) {
    if (r.kind !== "fill") continue;
    try {
      const d = JSON.parse(r.detail ?? "{}") as { side?: string; qty?: number; symbol?: string };
      const bySymbol = (out[r.account ?? ""] ??= {});
      const symbol = d.symbol ?? "?";
      bySymbol[symbol] = (bySymbol[symbol] ?? 0) + (d.side === "sell" ? -1 : 1) * (d.qty ?? 0);
    } catch {
      // the detail is the gateway's own JSON; an unreadable one is counted nowhere
    }
  }
  return out;
}

/** The order rows of `deploymentId` decided at or after `fromMs`, without the tests' own `probe-` orders. */
export function ordersFrom(
  records: readonly AuditRecord[],
  deploymentId: string,
  fromMs: number,
): AuditRecord[] {
  return records.filter(
    (r) =>
      r.kind === "order" &&
      r.deploymentId === deploymentId &&
      r.decidedAtMs >= fromMs &&
      !r.clientOrderId?.startsWith("probe-"),
  );
}

/**
 * Accepted orders that reached the gateway more than `lateMs` after their runner stamped them
 * (the envelope's sentAtUnixMs): orders held somewhere (a stalled connection) and delivered late.
 */
export function lateAccepted(records: readonly AuditRecord[], lateMs: number): AuditRecord[] {
  return records.filter((r) => {
    if (r.kind !== "order" || r.outcome !== "accepted" || r.receivedAtMs === null) return false;
    try {
      const sent = (JSON.parse(r.detail ?? "{}") as { sentAtUnixMs?: number }).sentAtUnixMs;
      return typeof sent === "number" && r.receivedAtMs - sent > lateMs;
    } catch {
      return false;
    }
  });
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { pidAlive } from "../../src/runner/process/process-identity.ts";
