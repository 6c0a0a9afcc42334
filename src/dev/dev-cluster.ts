import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { keyPairPath, loadOrCreateKeyPair } from "../gateway/keys.ts";

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
 * the gateway's, and one per runner (which the orchestrator authorizes at the gateway).
 */
export class DevCluster {
  private readonly children: Child[] = [];
  readonly apiUrl: string;
  private readonly runDirs: string[] = [];
  /** Called when a child ends while the cluster runs (not during close). */
  onChildExit: (name: string, code: number | null, log: string) => void = () => undefined;
  private closing = false;
  private gatewayPublicKey = "";
  /** Children whose end was asked for (a test's SIGKILL, a restart): not reported as failures. */
  private readonly expected = new Set<ChildProcess>();

  constructor(private readonly o: DevClusterOptions) {
    this.apiUrl = `http://127.0.0.1:${o.httpPort}`;
  }

  /** Starts the orchestrator, then the runners; returns at once (see waitReady). */
  start(): void {
    const dir = resolve(this.o.dir);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "logs"), { recursive: true });
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
    for (const [index, node] of (this.o.nodes ?? DEV_NODES).entries()) {
      // A short run dir: Unix socket paths are limited to 107 bytes.
      const runDir = join(tmpdir(), "hive-dev", node.id);
      this.runDirs.push(runDir);
      const config = join(dir, `${node.id}.yaml`);
      writeFileSync(
        config,
        JSON.stringify({
          nodeId: node.id,
          pool: node.pool,
          tags: node.tags,
          orchestrators: [`http://127.0.0.1:${this.o.runnerPort}`],
          portRange: node.ports,
          stateDir: join(dir, node.id),
          runDir,
          datasets: { dir: join("/dev/shm", "hive-dev", node.id), budget: "1GiB" },
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
    ];
  }

  /** The gateway's orders port (its control port is the next one). */
  get gatewayPort(): number {
    return this.o.gatewayPort ?? this.o.runnerPort + 30;
  }

  /** The gateway's state directory (its SQLite file holds the fence table and the audit log). */
  get gatewayState(): string {
    return join(resolve(this.o.dir), "gateway");
  }

  private launch(name: string, args: string[]): void {
    const log = join(resolve(this.o.dir), "logs", `${name}.log`);
    // The child writes its log file itself: if hive dev dies, its children's logging does not.
    const fd = openSync(log, "a");
    const child = spawn(process.execPath, [resolve("bin/hive.cjs"), ...args], {
      // Their own process groups: a Ctrl-C in the terminal (or a signal to dev's group) reaches
      // hive dev alone, which then stops the layouts before it stops the runners.
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, HIVE_LOG_LEVEL: process.env.HIVE_LOG_LEVEL ?? "info" },
    });
    closeSync(fd);
    child.once("exit", (code) => {
      if (!this.closing && !this.expected.has(child)) this.onChildExit(name, code, log);
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

  /** Kills every child at once (a second Ctrl-C). */
  kill(): void {
    this.closing = true;
    for (const c of this.children) if (c.process.exitCode === null) c.process.kill("SIGKILL");
  }

  /** Waits until the API answers and every node is registered and ready. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    const want = (this.o.nodes ?? DEV_NODES).length;
    for (;;) {
      try {
        const res = await fetch(`${this.apiUrl}/v1/nodes`);
        if (res.ok) {
          const nodes = (await res.json()) as { health: string }[];
          if (nodes.filter((n) => n.health === "ready").length >= want) return;
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
    try {
      const res = await fetch(`${this.apiUrl}/v1/layouts`);
      if (res.ok) {
        const layouts = (await res.json()) as { name: string }[];
        await Promise.all(
          layouts.map((l) => fetch(`${this.apiUrl}/v1/layouts/${l.name}`, { method: "DELETE" })),
        );
        const end = Date.now() + 15_000;
        while (Date.now() < end) {
          const left = (await (await fetch(`${this.apiUrl}/v1/layouts`)).json()) as unknown[];
          if (left.length === 0) break;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } catch {
      // The orchestrator is gone already: the runners still stop below.
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
    for (const d of this.runDirs) rmSync(d, { recursive: true, force: true });
    for (const node of this.o.nodes ?? DEV_NODES)
      rmSync(join("/dev/shm", "hive-dev", node.id), { recursive: true, force: true });
    for (const parent of [join(tmpdir(), "hive-dev"), join("/dev/shm", "hive-dev")]) {
      try {
        rmdirSync(parent); // only if empty: another dev cluster may share it
      } catch {
        // Not empty, or gone.
      }
    }
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
