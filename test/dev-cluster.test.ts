/**
 * `hive dev`'s cluster (src/dev/dev-cluster.ts) against the things around it: a port another
 * server holds, nodes another dev cluster owns, a `hive dev` killed outright, and the forced stop
 * of a second Ctrl-C. Real processes on loopback.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, test } from "node:test";
import { memoryIo } from "../src/cli/io.ts";
import { main } from "../src/cli/main.ts";
import { writeSecretFile } from "../src/core/secret-file.ts";
import { DevCluster, type DevClusterOptions, type DevNode } from "../src/dev/dev-cluster.ts";
import { readAudit } from "../src/gateway/index.ts";
import {
  initClusterCa,
  issueNodePem,
  JoinTokens,
  loadClusterCa,
  writeIssued,
} from "../src/security/pki/index.ts";
import { destroyCgroupParent } from "../src/runner/cgroups/index.ts";
import { pidAlive } from "../src/runner/process/process-identity.ts";

const base = 33_000 + (process.pid % 40) * 200;
const runRoot = join(tmpdir(), "hive-dev");
const dirs: string[] = [];
const strays: number[] = [];
const nodeIds: string[] = [];

after(async () => {
  for (const pid of strays) if (pidAlive(pid)) process.kill(pid, "SIGKILL");
  for (const id of nodeIds) {
    await destroyCgroupParent(`hive-${id}`);
    rmSync(join(runRoot, id), { recursive: true, force: true });
    rmSync(join(runRoot, `${id}.owner`), { force: true });
    rmSync(join("/dev/shm", "hive-dev", id), { recursive: true, force: true });
  }
  // The roots too, when empty, as hive dev leaves them (one killed with SIGKILL cannot).
  for (const root of [runRoot, join("/dev/shm", "hive-dev")]) {
    try {
      rmdirSync(root);
    } catch {
      // Not empty (another dev cluster), or gone.
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function options(offset: number, nodes: DevNode[]): DevClusterOptions {
  const dir = mkdtempSync(join(tmpdir(), "hive-devc-"));
  dirs.push(dir);
  nodeIds.push(...nodes.map((n) => n.id));
  const first = base + offset;
  return { dir, runnerPort: first, httpPort: first + 1, gatewayPort: first + 10, nodes };
}

function liveNode(id: string, first: number): DevNode {
  return { id, pool: "live", tags: ["live_node"], ports: { first, last: first + 19 } };
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A layout's deployments as the HTTP API shows them. */
type LayoutView = { deployments: { id: string; phase: string; pid: number | null; restarts: number }[] };

/** Applies, through the cluster's HTTP API, a layout `name` of one idle live strategy (a sleep). */
async function applyIdleLayout(cluster: DevCluster, name: string): Promise<void> {
  const layout = [
    `name: ${name}`,
    "services:",
    "  - name: idle",
    "    kind: strategy",
    "    pool: live",
    "    command: sleep",
    '    args: ["300"]',
    "    resources: { cores: 0.1, memory: 32MiB }",
  ].join("\n");
  const res = await fetch(`${cluster.apiUrl}/v1/layouts`, {
    method: "POST",
    headers: { "content-type": "application/json", ...cluster.authHeaders() },
    body: JSON.stringify({ source: layout, file: `${name}.yaml` }),
  });
  assert.equal(res.status, 200, await res.clone().text());
}

/** Layout `name` as the cluster's HTTP API shows it. */
async function layoutView(cluster: DevCluster, name: string): Promise<LayoutView> {
  const res = await fetch(`${cluster.apiUrl}/v1/layouts/${name}`, { headers: cluster.authHeaders() });
  return (await res.json()) as LayoutView;
}

/** The deployment of layout `name` that runs with a pid, once there is one (undefined after 30 s). */
async function runningDeployment(
  cluster: DevCluster,
  name: string,
): Promise<LayoutView["deployments"][number] | undefined> {
  let running: LayoutView["deployments"][number] | undefined;
  for (const end = Date.now() + 30_000; running === undefined && Date.now() < end; await sleep(100)) {
    running = (await layoutView(cluster, name)).deployments.find(
      (d) => d.phase === "running" && d.pid !== null,
    );
  }
  return running;
}

describe("the dev cluster", () => {
  test("refuses a taken port before it starts anything, and never talks to what holds it", async () => {
    const o = options(0, []);
    let connections = 0;
    const squatter: Server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((done) => squatter.listen(o.httpPort, "127.0.0.1", done));
    try {
      const cluster = new DevCluster(o);
      await assert.rejects(cluster.start(), /--http-port 127\.0\.0\.1:\d+ is not free/);
      await cluster.close();
      assert.equal(cluster.launched, false, "nothing was launched");
      assert.equal(connections, 0, "the server on the port was never asked anything");
    } finally {
      await new Promise((done) => squatter.close(done));
    }
  });

  test("refuses nodes another live dev cluster owns, and leaves that cluster's files alone", async () => {
    const node = liveNode(`devc-own-${process.pid}`, base + 100);
    const o = options(20, [node]);
    const other: ChildProcess = spawn("sleep", ["60"], { stdio: "ignore" });
    strays.push(other.pid!);
    mkdirSync(join(runRoot, node.id), { recursive: true });
    writeFileSync(join(runRoot, `${node.id}.owner`), `${other.pid}\n`);
    writeFileSync(join(runRoot, node.id, "theirs"), "x");
    const cluster = new DevCluster(o);
    await assert.rejects(
      cluster.start(),
      new RegExp(`node ${node.id} belongs to another dev cluster \\(pid ${other.pid}`),
    );
    await cluster.close();
    assert.equal(readFileSync(join(runRoot, `${node.id}.owner`), "utf8").trim(), String(other.pid));
    assert.ok(existsSync(join(runRoot, node.id, "theirs")), "the other cluster's run directory is untouched");
    other.kill("SIGKILL");
  });

  test("stops by itself when the hive dev that started it is killed with SIGKILL", async () => {
    const node = liveNode(`devc-orphan-${process.pid}`, base + 120);
    const o = options(40, [node]);
    const fixture = new URL("../src/dev/testing/dev-parent.ts", import.meta.url).pathname;
    const parent = spawn(process.execPath, ["--import", "tsx", fixture, JSON.stringify(o)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    strays.push(parent.pid!);
    let out = "";
    parent.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    await until("the cluster ready", () => out.includes("\n"), 60_000);
    const pids = Object.values(JSON.parse(out) as Record<string, number>);
    assert.equal(pids.length, 3);
    strays.push(...pids);
    assert.ok(pids.every(pidAlive), "gateway, orchestrator and runner run");
    parent.kill("SIGKILL");
    await until("every process of the orphaned cluster gone", () => !pids.some(pidAlive));
  });

  test("a forced stop kills every process, the strategies under the runners too, and removes their files", async () => {
    const node = liveNode(`devc-kill-${process.pid}`, base + 140);
    const o = options(60, [node]);
    const cluster = new DevCluster(o);
    await cluster.start();
    await cluster.waitReady(60_000);
    // The first admin token: made by the orchestrator, in a 0600 file, never in its log.
    const token = cluster.adminToken();
    assert.match(token ?? "", /^hive_[0-9a-f]{16}_/);
    assert.equal(statSync(cluster.adminTokenFile).mode & 0o777, 0o600);
    const secret = token!.split("_")[2]!;
    assert.ok(!readFileSync(cluster.logOf("orchestrator")!, "utf8").includes(secret), "no secret in the log");
    await applyIdleLayout(cluster, "devc-kill");
    const strategy = (await runningDeployment(cluster, "devc-kill"))?.pid ?? null;
    assert.ok(strategy !== null, "the strategy runs");
    // `hive` through the dev context, as a user of `hive dev` would call it: no flag, no token given.
    const config = join(o.dir, "hive-config");
    const saved = { HIVE_CONFIG: process.env.HIVE_CONFIG, HIVE_ORCHESTRATOR: process.env.HIVE_ORCHESTRATOR };
    process.env.HIVE_CONFIG = config;
    delete process.env.HIVE_ORCHESTRATOR;
    try {
      assert.deepEqual(cluster.writeContext("dev"), { path: config, current: true, currentContext: "dev" });
      const io = memoryIo();
      assert.equal(await main(["node", "hive", "status", "devc-kill"], io), 0, io.stderr.join("\n"));
      assert.match(io.stdout.join("\n"), /layout devc-kill: running/);
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    strays.push(strategy);
    const pids = ["gateway", "orchestrator", node.id].map((n) => cluster.pidOf(n)!);
    strays.push(...pids);
    await cluster.kill();
    await until("every process gone", () => ![...pids, strategy].some(pidAlive), 5_000);
    assert.equal(existsSync(join(runRoot, node.id)), false, "the run directory is removed");
    assert.equal(existsSync(join(runRoot, `${node.id}.owner`)), false, "the node is released");
    assert.equal(existsSync(`/sys/fs/cgroup/memory/hive-${node.id}`), false, "no cgroup is left");
  });

  test("the runner link is mutual TLS: runners claiming a live node are refused and the live strategy runs on; a join token adds a node", async () => {
    const node = liveNode(`devc-tls-${process.pid}`, base + 160);
    const o = options(80, [node]);
    const cluster = new DevCluster(o);
    const extra: { child: ChildProcess; id: string; cgroup: string; dir: string; log: string }[] = [];
    try {
      await cluster.start();
      await cluster.waitReady(60_000);
      await applyIdleLayout(cluster, "devc-tls");
      const view = () => layoutView(cluster, "devc-tls");
      const running = await runningDeployment(cluster, "devc-tls");
      assert.ok(running?.pid, "the strategy runs");
      strays.push(running.pid);

      /** Starts `hive runner` for `nodeId` with its own directories and these TLS files. */
      const startRunner = (
        name: string,
        nodeId: string,
        ports: number,
        tls: object,
        joinTokenFile?: string,
      ) => {
        const dir = mkdtempSync(join(tmpdir(), `hive-devc-${name}-`));
        // Passable by the deployments' uids (a root runner refuses a run directory they cannot reach).
        chmodSync(dir, 0o711);
        dirs.push(dir);
        const cgroup = `hive-${name}-${process.pid}`;
        const config = join(dir, "runner.yaml");
        writeFileSync(
          config,
          JSON.stringify({
            nodeId,
            pool: "live",
            tags: ["live_node"],
            orchestrators: [`https://127.0.0.1:${o.runnerPort}`],
            tls,
            ...(joinTokenFile === undefined ? {} : { joinTokenFile }),
            portRange: { first: ports, last: ports + 5 },
            // Disjoint from the dev nodes' uids (20000 + their ports) and from each other's.
            deploymentUids: { first: 40000 + ports, last: 40000 + ports + 5 },
            stateDir: join(dir, "state"),
            runDir: join(dir, "run"),
            datasets: { dir: join(dir, "datasets"), budget: "16MiB" },
            cgroupParent: cgroup,
            curveKeyFile: join(dir, "curve.key"),
          }),
        );
        const log = join(dir, "runner.log");
        writeFileSync(log, "");
        const child = spawn(
          process.execPath,
          ["bin/hive.cjs", "runner", "--config", config, "--stop-on-exit"],
          {
            stdio: ["ignore", "ignore", "pipe"],
          },
        );
        child.stderr?.on("data", (b: Buffer) => writeFileSync(log, b, { flag: "a" }));
        strays.push(child.pid!);
        extra.push({ child, id: nodeId, cgroup, dir, log });
        return { dir, log };
      };

      // One with a certificate of the dev CA for another node, claiming this node's id; one with a
      // certificate for this node's id from a CA of its own.
      const devCa = await loadClusterCa(cluster.caDir);
      const fake = mkdtempSync(join(tmpdir(), "hive-devc-fakeca-"));
      dirs.push(fake);
      await initClusterCa(join(fake, "ca"));
      const other = writeIssued(join(fake, "other"), await issueNodePem(devCa, `intruder-${process.pid}`));
      const forged = writeIssued(
        join(fake, "forged"),
        await issueNodePem(await loadClusterCa(join(fake, "ca")), node.id),
      );
      const caCert = join(cluster.caDir, "ca.crt");
      const a = startRunner("intruder-a", node.id, base + 180, {
        ca: caCert,
        cert: other.cert,
        key: other.key,
      });
      const b = startRunner("intruder-b", node.id, base + 186, {
        ca: caCert,
        cert: forged.cert,
        key: forged.key,
      });
      for (const r of [a, b]) {
        await until(
          `${r.log} refused`,
          () => readFileSync(r.log, "utf8").includes('"state":"refused"'),
          30_000,
        );
      }
      // Several of their retries, and many heartbeats of the real runner.
      await sleep(2_000);
      const after = (await view()).deployments.find((d) => d.id === running?.id);
      assert.equal(after?.phase, "running");
      assert.equal(after?.pid, running.pid, "the same process runs");
      assert.equal(after?.restarts, 0, "nothing restarted");
      assert.match(readFileSync(a.log, "utf8"), /client certificate is node \\"intruder-/);
      assert.match(readFileSync(b.log, "utf8"), /no valid client certificate/);
      const orchestratorLog = readFileSync(cluster.logOf("orchestrator")!, "utf8").split("\n");
      const lines = (msg: string) =>
        orchestratorLog.filter((l) => l.includes(`"msg":"${msg}"`) && l.includes(node.id));
      assert.equal(lines("runner registered").length, 1, "the node registered once: no flapping");
      assert.ok(lines("runner registration refused").length >= 2, "every refusal is logged");
      const intruderKeys = [a, b].map((r) => readFileSync(join(r.dir, "curve.key.pub"), "utf8").trim());
      // A gateway admits a node's key only when a fence names it (each fence's audit row names
      // its node key): no row of the gateway's audit names an intruder's key.
      const audited = readAudit(cluster.gatewayState).map((r) => String(r.detail));
      for (const key of intruderKeys) {
        assert.ok(!audited.some((d) => d.includes(key)), "no intruder's key is admitted at the gateway");
      }

      // A new node joins with a one-time token: it obtains its certificate and registers.
      const joiner = `devc-join-${process.pid}`;
      nodeIds.push(joiner);
      const tokenFile = join(fake, "join.token");
      writeSecretFile(tokenFile, `${new JoinTokens(cluster.caDir).create({ node: joiner }).token}\n`);
      const j = startRunner(
        "joiner",
        joiner,
        base + 192,
        { ca: caCert, cert: join(fake, "joiner.crt"), key: join(fake, "joiner.key") },
        tokenFile,
      );
      let nodes: { id: string; health: string }[] = [];
      for (const end = Date.now() + 30_000; Date.now() < end; await sleep(200)) {
        nodes = (await (
          await fetch(`${cluster.apiUrl}/v1/nodes`, { headers: cluster.authHeaders() })
        ).json()) as typeof nodes;
        if (nodes.some((n) => n.id === joiner && n.health === "ready")) break;
      }
      assert.ok(
        nodes.some((n) => n.id === joiner && n.health === "ready"),
        `${joiner} joined; see ${j.log}`,
      );
      assert.ok(existsSync(join(fake, "joiner.crt")));
    } finally {
      for (const r of extra) r.child.kill("SIGTERM");
      for (const r of extra) {
        if (r.child.exitCode === null && r.child.signalCode === null)
          await new Promise((d) => r.child.once("exit", d));
        await destroyCgroupParent(r.cgroup).catch(() => undefined);
      }
      await cluster.close();
    }
  });
});
