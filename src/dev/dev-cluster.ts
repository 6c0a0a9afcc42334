import { spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as cliConfig from "../cli/cli-config.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { keyPairPath, loadOrCreateKeyPair } from "../gateway/keys.ts";
import {
  caPaths,
  initClusterCa,
  issueNodePem,
  issueServerPem,
  loadClusterCa,
  writeIssued,
} from "../security/pki/index.ts";
import { destroyCgroupParent } from "../runner/cgroups/detect-cgroups.ts";
import { listDescendants, type ProcessIdentity } from "../runner/process/process-tree.ts";
import { pidAlive } from "../runner/process/process-identity.ts";

/** The `hive` command's entry, found from this file, so `hive dev` runs from any directory. */
const HIVE_ENTRY = fileURLToPath(new URL("../../bin/hive.cjs", import.meta.url));

/** Where the dev clusters of this machine keep their run directories and owner files. */
const DEV_RUN_ROOT = join(tmpdir(), "hive-dev");
const DEV_DATASET_ROOT = join("/dev/shm", "hive-dev");
/** The examples' HIVE_RESULTS_DIR, relative to the working directory of `hive dev` and its runners. */
const DEV_RESULTS_DIR = join(".hive", "results");

/** One node of the dev cluster. */
export interface DevNode {
  readonly id: string;
  readonly pool: "live" | "backtest";
  readonly tags: readonly string[];
  readonly ports: { readonly first: number; readonly last: number };
}

/** The dev cluster: two live nodes (so a standby has somewhere to go) and one data node. */
export const DEV_NODES: readonly DevNode[] = [
  {
    id: "dev-live-1",
    pool: "live",
    tags: ["live_node", "low_latency", "region_tokyo"],
    ports: { first: 21000, last: 21099 },
  },
  {
    id: "dev-live-2",
    pool: "live",
    tags: ["live_node", "low_latency", "region_ny"],
    ports: { first: 21100, last: 21199 },
  },
  {
    id: "dev-data-1",
    pool: "backtest",
    tags: ["data_node", "ram_128gb"],
    ports: { first: 22000, last: 22099 },
  },
];

/** Options of {@link DevCluster}. */
export interface DevClusterOptions {
  /** Where state, the store and logs go; wiped at start. */
  readonly dir: string;
  readonly runnerPort: number;
  readonly httpPort: number;
  /** The gateway's orders port; its control port is the next one. Default: runnerPort + 30. */
  readonly gatewayPort?: number;
  readonly nodes?: readonly DevNode[];
}

/** A child process of the dev cluster and where its output goes. */
interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly log: string;
}

/**
 * The processes of `hive dev`: the broker gateway with its paper broker, an orchestrator with the
 * embedded store that fences it, and one runner per node, each a separate process of this
 * machine's `hive` command, each writing its JSON log to a file. CURVE is on, with key pairs made
 * under the dev directory: the orchestrator's (the only key the gateway's control socket admits),
 * the gateway's, and one per runner (which the orchestrator authorizes at the gateway). The runner
 * link is mutual TLS: a dev CA under the dev directory (`ca/`) issues the orchestrator's
 * certificate and each runner's, and the orchestrator takes each node's id from its certificate.
 */
export class DevCluster {
  private readonly children: Child[] = [];
  readonly apiUrl: string;
  /** Called when a child ends while the cluster runs (not during close). */
  onChildExit: (name: string, code: number | null, log: string) => void = () => undefined;
  private closing = false;
  private gatewayPublicKey = "";
  /** Children whose end was asked for (a test's SIGKILL, a restart): not reported as failures. */
  private readonly expected = new Set<ChildProcess>();
  /** The first child that ended before the cluster was ready: waitReady fails with it. */
  private endedEarly: string | undefined;
  /** Whether our own orchestrator answered: only then are layouts deleted at close. */
  private ready = false;
  /** The nodes this cluster owns (see claimNodes): only their directories are ever removed. */
  private readonly owned: DevNode[] = [];

  constructor(private readonly o: DevClusterOptions) {
    this.apiUrl = `http://127.0.0.1:${o.httpPort}`;
  }

  /**
   * Starts the gateway, the orchestrator, then the runners, and returns once they are launched
   * (see waitReady). Refuses, before anything starts or is wiped, when one of its ports is taken
   * (another orchestrator would be driven, and at close emptied, in its place) or another dev
   * cluster runs nodes of the same names (they would share run directories and cgroups).
   */
  async start(): Promise<void> {
    const dir = resolve(this.o.dir);
    const nodes = this.o.nodes ?? DEV_NODES;
    await assertPortsFree([
      ["--runner-port", this.o.runnerPort],
      ["--http-port", this.o.httpPort],
      ["the gateway's orders port", this.gatewayPort],
      ["the gateway's control port", this.gatewayPort + 1],
      ...nodes.map((n, i) => [`${n.id}'s metrics port`, this.o.httpPort + 1 + i] as const),
    ]);
    this.claimNodes(nodes);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "logs"), { recursive: true });
    // Keys, the store and the runners' state: nothing in it is for the strategies, which run
    // under uids of their own when the runners are root.
    chmodSync(dir, 0o700);
    // The examples' backtests write to HIVE_RESULTS_DIR=.hive/results (from the runners' working
    // directory, this one); as root the runners start them under uids of their own, so it is
    // writable by all, sticky like /tmp: each deployment can replace only its own files.
    mkdirSync(DEV_RESULTS_DIR, { recursive: true });
    chmodSync(DEV_RESULTS_DIR, 0o1777);
    await this.makeCertificates(dir, nodes);
    const orchestratorKey = loadOrCreateKeyPair(join(dir, "keys", "orchestrator.key"));
    const gatewayKey = loadOrCreateKeyPair(keyPairPath(join(dir, "keys")));
    this.launch("gateway", [
      "gateway",
      "--state",
      join(dir, "gateway"),
      "--orders",
      `tcp://127.0.0.1:${this.gatewayPort}`,
      "--control",
      `tcp://127.0.0.1:${this.gatewayPort + 1}`,
      "--keys",
      join(dir, "keys"),
      "--orchestrator-key",
      orchestratorKey.publicKey,
    ]);
    this.gatewayPublicKey = gatewayKey.publicKey;
    this.launch("orchestrator", this.orchestratorArgs());
    for (const [index, node] of nodes.entries()) {
      // A short run dir: Unix socket paths are limited to 107 bytes.
      const runDir = join(DEV_RUN_ROOT, node.id);
      const config = join(dir, `${node.id}.yaml`);
      writeFileSync(
        config,
        JSON.stringify({
          nodeId: node.id,
          pool: node.pool,
          tags: node.tags,
          // Mutual TLS, as on real machines: the orchestrator checked against the dev CA, the node
          // named by its certificate.
          orchestrators: [`https://127.0.0.1:${this.o.runnerPort}`],
          tls: {
            ca: caPaths(this.caDir).cert,
            cert: join(this.caDir, "nodes", `${node.id}.crt`),
            key: join(this.caDir, "nodes", `${node.id}.key`),
          },
          portRange: node.ports,
          // Runners sharing a machine need deployment uid ranges of their own (docs/security.md):
          // one uid per port of the node, whose port range no other running node shares.
          deploymentUids: { first: 20_000 + node.ports.first, last: 20_000 + node.ports.last },
          stateDir: join(dir, node.id),
          runDir,
          datasets: { dir: join(DEV_DATASET_ROOT, node.id), budget: "1GiB" },
          stopGraceMs: 2000,
          curveKeyFile: join(dir, "keys", `${node.id}.key`),
          // Each runner's Prometheus metrics on the ports after the HTTP API's.
          metricsListen: `127.0.0.1:${this.o.httpPort + 1 + index}`,
        }),
      );
      // --stop-on-exit: a dev runner takes its processes with it, even if the stop of the layouts
      // did not finish (in production, processes outlive their runner).
      this.launch(node.id, ["runner", "--config", config, "--stop-on-exit"]);
    }
  }

  private orchestratorArgs(): string[] {
    return [
      "orchestrator",
      "--store",
      `sqlite:${join(resolve(this.o.dir), "orchestrator.db")}`,
      "--runner-listen",
      `127.0.0.1:${this.o.runnerPort}`,
      "--http-listen",
      `127.0.0.1:${this.o.httpPort}`,
      "--gateway",
      `name=paper,orders=tcp://127.0.0.1:${this.gatewayPort},control=tcp://127.0.0.1:${this.gatewayPort + 1},key=${this.gatewayPublicKey}`,
      "--curve-key-file",
      join(resolve(this.o.dir), "keys", "orchestrator.key"),
      "--admin-token-file",
      this.adminTokenFile,
      // The runner link over mutual TLS with the dev CA, which also signs the certificates of
      // runners that join with a token (`hive ca join-token create --dir <dev dir>/ca`).
      "--tls-cert",
      join(this.caDir, "orchestrator.crt"),
      "--tls-key",
      join(this.caDir, "orchestrator.key"),
      "--ca-dir",
      this.caDir,
    ];
  }

  /**
   * Where the orchestrator writes its first admin API token (0600): `<dir>/admin.token`, so
   * `.hive/dev/admin.token` for `hive dev`. It exists once the orchestrator listens.
   */
  get adminTokenFile(): string {
    return join(resolve(this.o.dir), "admin.token");
  }

  /** The admin API token (once the orchestrator made it), or undefined before. */
  adminToken(): string | undefined {
    return readIfExists(this.adminTokenFile).trim() || undefined;
  }

  /** Headers that authenticate a request to this cluster's API as its admin. */
  authHeaders(): Record<string, string> {
    const token = this.adminToken();
    return token === undefined ? {} : { authorization: `Bearer ${token}` };
  }

  /**
   * Writes the `name` context (the API's URL and the admin token's file) into the CLI's context
   * file (cli-config.ts: HIVE_CONFIG, else ~/.config/hive/config), keeping every other context;
   * it becomes the current context only when none is set. Returns the file, and whether `name`
   * is the current context now.
   */
  writeContext(name = "dev", path?: string): { path: string; current: boolean; currentContext?: string } {
    const context = { name, server: this.apiUrl, "token-file": this.adminTokenFile };
    const { current } = cliConfig.saveContext(context, path);
    const { configPath, loadConfig } = cliConfig;
    const file = path ?? configPath();
    const currentContext = loadConfig(file).currentContext;
    return { path: file, current, ...(currentContext === undefined ? {} : { currentContext }) };
  }

  /** The dev cluster's CA directory (certificates of the orchestrator and of every dev node). */
  get caDir(): string {
    return join(resolve(this.o.dir), "ca");
  }

  /** Makes the dev CA, the orchestrator's certificate (localhost, 127.0.0.1) and each node's. */
  private async makeCertificates(dir: string, nodes: readonly DevNode[]): Promise<void> {
    await initClusterCa(join(dir, "ca"), { name: "hive dev CA" });
    const ca = await loadClusterCa(this.caDir);
    writeIssued(join(this.caDir, "orchestrator"), await issueServerPem(ca, ["localhost", "127.0.0.1"]));
    for (const node of nodes) {
      writeIssued(join(this.caDir, "nodes", node.id), await issueNodePem(ca, node.id));
    }
  }

  /** The gateway's orders port (its control port is the next one). */
  get gatewayPort(): number {
    return this.o.gatewayPort ?? this.o.runnerPort + 30;
  }

  /** The gateway's state directory (its SQLite file holds the fence table and the audit log). */
  get gatewayState(): string {
    return join(resolve(this.o.dir), "gateway");
  }

  /**
   * Takes an owner file per node under the dev run root, or refuses if a live process holds one:
   * two clusters with nodes of the same names would share run directories, dataset directories
   * and cgroup parents, and each runner's recovery would kill the other's processes.
   */
  private claimNodes(nodes: readonly DevNode[]): void {
    mkdirSync(DEV_RUN_ROOT, { recursive: true });
    for (const node of nodes) {
      const file = join(DEV_RUN_ROOT, `${node.id}.owner`);
      const owner = Number(readIfExists(file));
      if (owner > 0 && owner !== process.pid && pidAlive(owner)) {
        this.releaseNodes();
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `node ${node.id} belongs to another dev cluster (pid ${owner}, see ${file}); stop it first`,
        );
      }
      writeFileSync(file, `${process.pid}\n`);
      this.owned.push(node);
    }
  }

  /** Removes the owned nodes' run and dataset directories and owner files, and the roots if empty. */
  private releaseNodes(): void {
    for (const node of this.owned.splice(0)) {
      rmSync(join(DEV_RUN_ROOT, node.id), { recursive: true, force: true });
      rmSync(join(DEV_DATASET_ROOT, node.id), { recursive: true, force: true });
      rmSync(join(DEV_RUN_ROOT, `${node.id}.owner`), { force: true });
    }
    for (const parent of [DEV_RUN_ROOT, DEV_DATASET_ROOT]) {
      try {
        rmdirSync(parent); // only if empty: another dev cluster may share it
      } catch {
        // Not empty, or gone.
      }
    }
  }

  private launch(name: string, args: string[]): void {
    const log = join(resolve(this.o.dir), "logs", `${name}.log`);
    // The child writes its log file itself: if hive dev dies, its children's logging does not.
    const fd = openSync(log, "a");
    const child = spawn(process.execPath, [HIVE_ENTRY, ...args], {
      // Their own process groups: a Ctrl-C in the terminal (or a signal to dev's group) reaches
      // hive dev alone, which then stops the layouts before it stops the runners. The IPC channel
      // is how a child learns that hive dev is gone, even after a SIGKILL: it then stops itself
      // (see cli/stop-signal.ts), so no cluster is left running without its hive dev.
      detached: true,
      stdio: ["ignore", fd, fd, "ipc"],
      env: { ...process.env, HIVE_LOG_LEVEL: process.env.HIVE_LOG_LEVEL ?? "info" },
    });
    closeSync(fd);
    child.channel?.unref();
    child.once("exit", (code) => {
      if (this.closing || this.expected.has(child)) return;
      this.endedEarly ??= `${name} exited (code ${code}) before the cluster was ready; see ${log}`;
      this.onChildExit(name, code, log);
    });
    this.children.push({ name, process: child, log });
  }

  /** Sends a signal to one process of the cluster (tests: SIGKILL a runner). */
  signal(name: string, signal: NodeJS.Signals): void {
    const child = this.children.find((c) => c.name === name && c.process.exitCode === null);
    if (!child) throw new HiveError(ErrorCode.NotFound, `no running ${name} in the dev cluster`);
    this.expected.add(child.process);
    child.process.kill(signal);
  }

  /** Stops the orchestrator (SIGTERM) and starts it again on the same store and ports. */
  async restartOrchestrator(): Promise<void> {
    const i = this.children.findIndex((c) => c.name === "orchestrator");
    const old = this.children[i];
    if (!old) throw new HiveError(ErrorCode.NotFound, "no orchestrator in the dev cluster");
    this.expected.add(old.process);
    await stopChild(old.process);
    this.children.splice(i, 1);
    this.launch("orchestrator", this.orchestratorArgs());
  }

  /**
   * Kills everything at once (a second Ctrl-C): every child and every process under it (the
   * runners' strategies lead their own process groups), then what is left in the runners'
   * cgroups, and removes the run and dataset directories.
   */
  async kill(): Promise<void> {
    this.closing = true;
    const live = this.children.filter((c) => c.process.exitCode === null && c.process.signalCode === null);
    const trees: ProcessIdentity[] = [];
    for (const c of live) {
      // A child that died meanwhile has no descendants to list: nothing to kill under it.
      trees.push(...(await listDescendants(c.process.pid ?? -1).catch(() => [])));
    }
    for (const p of [...live.map((c) => ({ pid: c.process.pid ?? -1 })), ...trees]) {
      for (const target of [-p.pid, p.pid]) {
        try {
          process.kill(target, "SIGKILL");
        } catch {
          // Gone already, or not a group leader.
        }
      }
    }
    for (const node of this.owned) {
      // Best effort on the way out (a second Ctrl-C): a parent still busy or gone is left as is;
      // the next runner of this node cleans its cgroups when it starts.
      await destroyCgroupParent(`hive-${node.id}`).catch(() => undefined);
    }
    this.releaseNodes();
  }

  /**
   * Waits until the API answers and every node is registered and ready; returns early, without
   * an error, once `signal` is aborted (a Ctrl-C while it starts).
   */
  async waitReady(timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
    const end = Date.now() + timeoutMs;
    const want = (this.o.nodes ?? DEV_NODES).length;
    for (;;) {
      if (signal?.aborted) return;
      if (this.endedEarly !== undefined) throw new HiveError(ErrorCode.Unavailable, this.endedEarly);
      try {
        const res = await fetch(`${this.apiUrl}/v1/nodes`, { headers: this.authHeaders() });
        if (res.ok) {
          const nodes = (await res.json()) as { health: string }[];
          if (nodes.filter((n) => n.health === "ready").length >= want) {
            this.ready = true;
            return;
          }
        }
      } catch {
        // Not up yet.
      }
      if (Date.now() > end) {
        throw new HiveError(
          ErrorCode.Unavailable,
          `the dev cluster was not ready in ${timeoutMs / 1000} s; see ${this.o.dir}/logs`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Whether any process of the cluster was started. */
  get launched(): boolean {
    return this.children.length > 0;
  }

  /** The pid of a process of the cluster (its latest, if it was restarted). */
  pidOf(name: string): number | undefined {
    return this.children.findLast((c) => c.name === name)?.process.pid;
  }

  /** The log file of a process of the cluster. */
  logOf(name: string): string | undefined {
    return this.children.find((c) => c.name === name)?.log;
  }

  /**
   * Stops the cluster: every layout first (so the runners stop their processes cleanly), then
   * the runners and the orchestrator with SIGTERM (SIGKILL after 10 s), then their run dirs.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    const orchestrator = this.children.find((c) => c.name === "orchestrator")?.process;
    // Only our own orchestrator, seen ready and still alive, is asked to delete its layouts.
    const ours = this.ready && orchestrator?.exitCode === null && orchestrator.signalCode === null;
    try {
      if (!ours) throw new HiveError(ErrorCode.FailedPrecondition, "not our orchestrator, or not alive");
      const headers = this.authHeaders();
      const res = await fetch(`${this.apiUrl}/v1/layouts`, { headers });
      if (res.ok) {
        const layouts = (await res.json()) as { name: string }[];
        await Promise.all(
          layouts.map((l) => fetch(`${this.apiUrl}/v1/layouts/${l.name}`, { method: "DELETE", headers })),
        );
        const end = Date.now() + 15_000;
        while (Date.now() < end) {
          const left = (await (await fetch(`${this.apiUrl}/v1/layouts`, { headers })).json()) as unknown[];
          if (left.length === 0) break;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } catch {
      // Not ours, or gone already (a refused fetch): the runners still stop below, and they stop
      // their processes themselves. Nothing to report: close() is how hive dev ends either way.
    }
    this.closing = true;
    // Runners first (they may still answer stops), then the orchestrator, the gateway last.
    for (const group of [
      this.children.filter((c) => c.name !== "orchestrator" && c.name !== "gateway"),
      this.children.filter((c) => c.name === "orchestrator"),
      this.children.filter((c) => c.name === "gateway"),
    ]) {
      await Promise.all(group.map((c) => stopChild(c.process)));
    }
    this.releaseNodes();
  }
}

/** A file's content, or "" when it does not exist. */
function readIfExists(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Fails with the first port of `ports` that something on 127.0.0.1 already listens on. */
async function assertPortsFree(ports: readonly (readonly [string, number])[]): Promise<void> {
  for (const [what, port] of ports) {
    const server = createServer();
    const taken = await new Promise<NodeJS.ErrnoException | undefined>((done) => {
      server.once("error", (e: NodeJS.ErrnoException) => done(e));
      server.listen({ host: "127.0.0.1", port, exclusive: true }, () => done(undefined));
    });
    if (taken === undefined) {
      await new Promise((done) => server.close(done));
      continue;
    }
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `${what} 127.0.0.1:${port} is not free (${taken.code ?? taken.message}): another hive dev or ` +
        "orchestrator runs? Stop it, or choose other ports (--runner-port, --http-port)",
    );
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
