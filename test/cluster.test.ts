/**
 * The Hive end to end with real processes on loopback: the broker gateway, an orchestrator
 * (embedded store) and four runners as separate processes of the `hive` command, real strategies
 * and feeders, real kills, a failover and the kill switch.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { memoryIo } from "../src/cli/io.ts";
import { main } from "../src/cli/main.ts";
import { DevCluster, type DevNode } from "../src/dev/dev-cluster.ts";
import { readAudit } from "../src/gateway/index.ts";
import type { DeploymentView, LayoutView } from "../src/orchestrator/control-plane.ts";
import { destroyCgroupParent } from "../src/runner/cgroups/index.ts";

const base = 23_000 + (process.pid % 40) * 400;
const nodes: DevNode[] = [
  {
    id: "e2e-live-1",
    pool: "live",
    tags: ["live_node", "low_latency"],
    ports: { first: base, last: base + 49 },
  },
  {
    id: "e2e-live-2",
    pool: "live",
    tags: ["live_node", "low_latency"],
    ports: { first: base + 50, last: base + 99 },
  },
  { id: "e2e-data-1", pool: "backtest", tags: ["data_node"], ports: { first: base + 100, last: base + 149 } },
  { id: "e2e-data-2", pool: "backtest", tags: ["data_node"], ports: { first: base + 150, last: base + 199 } },
];
const dir = mkdtempSync(join(tmpdir(), "hive-e2e-"));
// The CLI below finds the cluster's token through a "dev" context in this file, never the user's.
process.env.HIVE_CONFIG = join(dir, "hive-config");
delete process.env.HIVE_ORCHESTRATOR;
delete process.env.HIVE_TOKEN;
const cluster = new DevCluster({ dir, runnerPort: base + 300, httpPort: base + 301, nodes });
const api = cluster.apiUrl;
let failure: string | undefined;

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`${api}${path}`, { headers: cluster.authHeaders() });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function apply(source: string, file: string) {
  const res = await fetch(`${api}/v1/layouts`, {
    method: "POST",
    headers: { "content-type": "application/json", ...cluster.authHeaders() },
    body: JSON.stringify({ source, file }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    if (failure) throw new Error(failure);
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const running = (name: string) =>
  until(`${name} running`, async () => {
    const l = await get<LayoutView>(`/v1/layouts/${name}`);
    return l.state === "running" ? l : undefined;
  });

function logOf(d: DeploymentView): string {
  const file = join(dir, d.nodeId ?? "", "logs", d.id, "stdout.log");
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

before(async () => {
  if (process.getuid?.() !== 0 && process.env.CI === "true") {
    throw new Error("CI=true: the end-to-end tests need root (cgroups, /dev/shm)");
  }
  cluster.onChildExit = (name, code, log) => (failure = `${name} exited (code ${code}); see ${log}`);
  await cluster.start();
  await cluster.waitReady(60_000);
  cluster.writeContext("dev");
});

after(async () => {
  await cluster.close();
  // The runner killed with SIGKILL left its process running (as a real lost node would): end it.
  for (const n of ["e2e-data-1", "e2e-data-2"]) await destroyCgroupParent(`hive-${n}`);
  rmSync(dir, { recursive: true, force: true });
});

describe("the hive with real processes", () => {
  test("the demo layout runs: ticks reach the strategy, its orders reach the gateway fenced to it, fills come back", async () => {
    const r = await apply(readFileSync("examples/layouts/live-trading.yaml", "utf8"), "live-trading.yaml");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const layout = await running("live-momentum");
    const momentum = layout.deployments.find((d) => d.service === "momentum" && d.role === "active")!;
    const standby = layout.deployments.find((d) => d.service === "momentum" && d.role === "standby")!;
    assert.notEqual(momentum.nodeId, standby.nodeId);
    // The gateway accepts orders stamped by the active's runner with its deployment and the
    // epoch the gateway was fenced to (the audit log says so).
    const order = await until("an order accepted at the gateway", () =>
      Promise.resolve(
        readAudit(cluster.gatewayState).find((a) => a.kind === "order" && a.outcome === "accepted"),
      ),
    );
    assert.equal(order.deploymentId, momentum.id);
    const [account] = await get<{ fence: { deploymentId: string; epoch: string } | null }[]>(
      "/v1/accounts?account=paper-001",
    );
    assert.equal(account?.fence?.deploymentId, momentum.id);
    assert.equal(order.epoch, account?.fence?.epoch);
    await until("a fill back at the strategy", () =>
      Promise.resolve(logOf(momentum).includes('"type":"fill"') ? true : undefined),
    );
    // The warm standby sees the ticks too, but its order path is closed.
    await until("the standby's closed order path", () =>
      Promise.resolve(logOf(standby).includes("order path is closed") ? true : undefined),
    );
  });

  test("hive failover moves the account to the standby: the gateway refuses the old one from then on", async () => {
    const before = await get<DeploymentView[]>("/v1/deployments?layout=live-momentum");
    const active = before.find((d) => d.service === "momentum" && d.role === "active")!;
    const standby = before.find((d) => d.service === "momentum" && d.role === "standby")!;
    const io = memoryIo();
    const code = await main(["node", "hive", "failover", "momentum", "--orchestrator", api], io);
    assert.equal(code, 0, io.stderr.join("\n"));
    assert.match(io.stdout.join("\n"), new RegExp(`${active.id} → ${standby.id} at epoch \\d+`));
    const switched = Date.now();
    const first = await until("an order accepted from the promoted standby", () =>
      Promise.resolve(
        readAudit(cluster.gatewayState).find(
          (a) => a.kind === "order" && a.outcome === "accepted" && a.deploymentId === standby.id,
        ),
      ),
    );
    assert.ok(first.decidedAtMs >= switched - 5_000);
    const audit = readAudit(cluster.gatewayState);
    const fencedAt = audit.find(
      (a) => a.kind === "fence" && a.outcome === "fenced" && a.deploymentId === standby.id,
    )!;
    assert.ok(fencedAt.seq < first.seq, "fenced before the first order was accepted");
    assert.deepEqual(
      audit.filter(
        (a) =>
          a.seq > fencedAt.seq &&
          a.kind === "order" &&
          a.outcome === "accepted" &&
          a.deploymentId === active.id,
      ),
      [],
      "nothing accepted from the old active after the fence moved",
    );
  });

  test("hive kill blocks the account at the gateway; --lift lets it trade again", async () => {
    const typo = memoryIo();
    assert.equal(await main(["node", "hive", "kill", "paper-01", "--orchestrator", api], typo), 2);
    assert.match(
      typo.stderr.join("\n"),
      /no layout trades account "paper-01" and no gateway knows it \(known: paper-001\)/,
    );
    const io = memoryIo();
    assert.equal(
      await main(["node", "hive", "kill", "paper-001", "--reason", "e2e", "--orchestrator", api], io),
      0,
    );
    assert.match(io.stdout.join("\n"), /paper-001: killed at gateway paper/);
    const killedAt = Date.now();
    await until("an order rejected as killed", () =>
      Promise.resolve(
        readAudit(cluster.gatewayState).find(
          (a) => a.kind === "order" && a.code === "killed" && a.decidedAtMs >= killedAt,
        ),
      ),
    );
    assert.equal(
      await main(["node", "hive", "kill", "paper-001", "--lift", "--orchestrator", api], memoryIo()),
      0,
    );
    const liftedAt = Date.now();
    await until("an order accepted again", () =>
      Promise.resolve(
        readAudit(cluster.gatewayState).find(
          (a) => a.kind === "order" && a.outcome === "accepted" && a.decidedAtMs > liftedAt,
        ),
      ),
    );
  });

  test("a bad layout is refused with the file, line and field; explain names why a service is pending", async () => {
    const bad = await apply(
      "name: x\nservices:\n  - name: a\n    kind: strategy\n    pool: gpu\n",
      "bad.yaml",
    );
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /bad\.yaml:5:\d+: services\[0\]\.pool: found \\"gpu\\"/);
    const gpu = readFileSync("examples/layouts/backtest-simulation.yaml", "utf8")
      .replace("name: backtest-momentum", "name: needs-gpu")
      .replaceAll("[data_node]", "[data_node, gpu]");
    assert.equal((await apply(gpu, "gpu.yaml")).status, 200);
    const e = await get<{ summary: string; decision: { ok: boolean } }>(
      "/v1/explain?layout=needs-gpu&service=sweep-fast",
    );
    assert.equal(e.decision.ok, false);
    assert.match(e.summary, /2 nodes: missing a required tag; 2: pool mismatch/);
    await fetch(`${api}/v1/layouts/needs-gpu`, { method: "DELETE", headers: cluster.authHeaders() });
  });

  test("a backtest-pool runner killed with SIGKILL: its backtest is rescheduled on the other", async () => {
    const layout = `name: long-backtest
datasets:
  - { id: es-sample, version: "1", source: examples/data/es-sample.csv, size: 841894 }
services:
  - name: replay
    kind: backtest
    pool: backtest
    command: /bin/sleep
    args: ["600"]
    resources: { cores: 0.5, memory: 64MiB }
    tags: { required: [data_node] }
    datasets: [{ name: ticks, id: es-sample, version: "1" }]
`;
    assert.equal((await apply(layout, "long.yaml")).status, 200);
    const target = (await running("long-backtest")).deployments[0]!;
    cluster.signal(target.nodeId ?? "", "SIGKILL");
    const moved = await until(
      "the backtest running on the other data node",
      async () =>
        (await get<DeploymentView[]>("/v1/deployments?layout=long-backtest")).find(
          (d) => d.id === target.id && d.phase === "running" && d.nodeId !== target.nodeId,
        ),
      40_000,
    );
    assert.match(moved.nodeId ?? "", /^e2e-data-/);
    const nodesNow = await get<{ id: string; health: string }[]>("/v1/nodes");
    assert.equal(nodesNow.find((n) => n.id === target.nodeId)?.health, "down");
  });

  test("a restarted orchestrator restarts no process", async () => {
    const before = (await get<DeploymentView[]>("/v1/deployments?layout=live-momentum")).map((d) => [
      d.id,
      d.pid,
    ]);
    await cluster.restartOrchestrator();
    const after = await until("the live layout running again", async () => {
      const l = await get<LayoutView>("/v1/layouts/live-momentum");
      return l.state === "running" ? l.deployments.map((d) => [d.id, d.pid]) : undefined;
    });
    assert.deepEqual(after, before);
  });
});
