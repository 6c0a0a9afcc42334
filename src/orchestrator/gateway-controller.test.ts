/**
 * One controller per gateway, with real gateway processes (gateway-child.ts on 127.0.0.1, its
 * SQLite state) and real orchestrators on SQLite stores, fake runners on the live pool:
 * - a second orchestrator (its own store, so its own cluster id) pointed at a gateway the first
 *   one fenced: every fence refused, no account moves, the wrong-controller alert fires (metric,
 *   error log); `hive gateway reassign` (the HTTP route, admin, audited) moves control, its
 *   fences then pass with no other alert, and the old controller is refused;
 * - a restored old store (same cluster id, epochs behind the gateway's): the first fence after
 *   the refusal passes (one refused fence, not one per epoch), with the epoch-behind alert;
 * - (on the fake gateway) a fence that takes an account from a deployment this orchestrator
 *   does not know raises unknown-previous; one taken from its own lost active does not.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { pino, type Logger } from "pino";
import { silentLogger } from "../core/logger.ts";
import { tempDirs } from "../core/testing/temp-dirs.ts";
import { until } from "../core/testing/until.ts";
import { GatewayClient } from "../gateway/control-client.ts";
import { WrongControllerError } from "../gateway/controller-record.ts";
import type { AuditRecord } from "../gateway/audit.ts";
import { killAllGatewayProcesses, startGatewayProcess } from "../gateway/testing/gateway-process.ts";
import { freePort } from "../gateway/testing/order-client.ts";
import type { FakeRunner } from "../runner/testing/fake-runner.ts";
import type { GatewayReassignView } from "./control-plane.ts";
import type { GatewayAlertReason } from "./gateway-alerts.ts";
import type { AuditPage } from "./http/audit-route.ts";
import { testApi } from "./http/testing/test-api.ts";
import { orchestratorMetrics } from "./metrics.ts";
import { compileOrchestratorOptions } from "./orchestrator-options.ts";
import { startOrchestrator, type RunningOrchestrator } from "./orchestrator-server.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import { fencedMomentum, liveFakeRunner } from "./testing/live-cluster.ts";

const dirs = tempDirs();
const runners: FakeRunner[] = [];
const orchestrators = new Set<RunningOrchestrator>();
const observers: GatewayClient[] = [];
after(async () => {
  for (const r of runners) await r.close();
  for (const o of orchestrators) await o.close();
  for (const c of observers) await c.close();
  killAllGatewayProcesses();
  dirs.removeAll();
});

interface GatewayAt {
  readonly orders: string;
  readonly control: string;
  /** A client naming no controller: it may only read. */
  readonly observer: GatewayClient;
}

/** A real gateway in its own process, insecure (no CURVE), on fresh ports. */
async function gatewayProcess(): Promise<GatewayAt> {
  const orders = `tcp://127.0.0.1:${await freePort()}`;
  const control = `tcp://127.0.0.1:${await freePort()}`;
  await startGatewayProcess({
    stateDir: dirs.make("hive-gw-ctl-"),
    ordersListen: orders,
    controlListen: control,
    insecure: true,
  });
  const observer = new GatewayClient({ address: control, timeoutMs: 2_000 });
  observers.push(observer);
  return { orders, control, observer };
}

/** An orchestrator on the SQLite store at `store`, fencing through `gw` with real control clients. */
async function orchestrator(
  store: string,
  gw: GatewayAt,
  port = 0,
  log: Logger = silentLogger(),
): Promise<RunningOrchestrator> {
  const o = await startOrchestrator(
    compileOrchestratorOptions({
      store: `sqlite:${store}`,
      runnerListen: { host: "127.0.0.1", port },
      heartbeatIntervalMs: 50,
      runnerLeaseMs: 200,
      downAfterMs: 400,
      stopGraceMs: 100,
      gateways: [{ name: "paper", orders: gw.orders, control: gw.control, publicKey: "" }],
    }),
    {
      log,
      connectGateway: (config, controller) =>
        new GatewayClient({ address: config.control, controller, timeoutMs: 1_500 }),
      gatewayRelistMs: 200,
    },
  );
  orchestrators.add(o);
  return o;
}

async function closeOrchestrator(o: RunningOrchestrator): Promise<void> {
  orchestrators.delete(o);
  await o.close();
}

/** A logger that keeps every line (JSON objects). */
function recordingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "info" },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

function alerts(o: RunningOrchestrator, reason: GatewayAlertReason): number {
  return o.core.gatewayAlerts().find((a) => a.gateway === "paper" && a.reason === reason)?.count ?? 0;
}

/** The momentum deployment of layout "fenced" whose runner has its order path open, with its fence. */
async function trading(o: RunningOrchestrator, gw: GatewayAt, rs: readonly FakeRunner[], what: string) {
  return until(
    what,
    async () => {
      const views = await o.core.listDeployments({ layout: "fenced" });
      const d = views.find((x) => x.service === "momentum" && x.role === "active");
      const open = rs.some((r) => r.processes.get(d?.id ?? "")?.ordersEnabled === true);
      const fence = (await gw.observer.accounts("acct-1"))[0]?.fence;
      return d && open && fence?.deploymentId === d.id && fence.epoch === d.epoch ? { d, fence } : undefined;
    },
    20_000,
  );
}

/** The gateway's audit rows after `afterSeq` (the unarchived ones). */
const auditAfter = (gw: GatewayAt, afterSeq: number): Promise<AuditRecord[]> =>
  gw.observer.audit({ afterSeq, limit: 10_000 });

test("a second orchestrator is refused every fence and moves nothing until reassigned; then the first is refused", async () => {
  const gw = await gatewayProcess();
  const first = await orchestrator(join(dirs.make("hive-orch-1-"), "o.db"), gw);
  const ones = [liveFakeRunner(first, "live-1", 44000), liveFakeRunner(first, "live-2", 44100)];
  runners.push(...ones);
  await first.core.applyLayout(fencedMomentum(0), "fenced.yaml");
  const held = await trading(first, gw, ones, "the first orchestrator trading");
  assert.equal((await gw.observer.status()).controller?.clusterId, first.clusterId);

  const { log, lines } = recordingLogger();
  const second = await orchestrator(join(dirs.make("hive-orch-2-"), "o.db"), gw, 0, log);
  assert.notEqual(second.clusterId, first.clusterId, "its own store, its own cluster id");
  const twos = [liveFakeRunner(second, "live-3", 44200)];
  runners.push(...twos);
  await second.core.applyLayout(fencedMomentum(0), "fenced.yaml");
  const refusedFence = (l: Record<string, unknown>) =>
    l.msg === "order path not opened; will retry" && /wrong-controller: fence refused/.test(String(l.err));
  await until("its first fence refused", () => lines.find(refusedFence), 20_000);

  // Nothing moved: the account is the first one's deployment's, at its epoch; no path opened.
  const fence = (await gw.observer.accounts("acct-1"))[0]?.fence;
  assert.deepEqual([fence?.deploymentId, fence?.epoch], [held.d.id, held.d.epoch]);
  const mine = (await second.core.listDeployments({ layout: "fenced" })).find(
    (d) => d.service === "momentum",
  );
  assert.ok(mine);
  assert.equal(twos[0]?.processes.get(mine.id)?.ordersEnabled ?? false, false, "its order path never opened");
  assert.ok(
    (await auditAfter(gw, 0)).every((r) => r.kind !== "fence" || r.deploymentId !== mine.id),
    "no fence of the second orchestrator's deployment reached the fence table",
  );
  assert.ok(((await gw.observer.status()).controllerRefusals ?? 0) >= 1);

  // The alert: counted in the metric, logged at error level naming both ids.
  assert.ok(alerts(second, "wrong-controller") >= 1);
  const metrics = await orchestratorMetrics(second.core).registry.getSingleMetricAsString(
    "hive_gateway_alerts_total",
  );
  assert.match(metrics, /hive_gateway_alerts_total\{gateway="paper",reason="wrong-controller"[^}]*\} [1-9]/);
  const alert = lines.find((l) => l.alert === "wrong-controller");
  assert.equal(alert?.level, 50, "error level");
  assert.deepEqual([alert?.holder, alert?.caller], [first.clusterId, second.clusterId]);

  // An operator moves it, through the HTTP API (admin only, audited).
  const api = testApi({ control: second.core });
  try {
    const url = "/v1/gateways/paper/reassign";
    const asOperator = await api.as("operator")({ method: "POST", url, payload: { from: first.clusterId } });
    assert.equal(asOperator.statusCode, 403, "admin only");
    const wrongFrom = await api.inject({ method: "POST", url, payload: { from: second.clusterId } });
    assert.equal(wrongFrom.statusCode, 422);
    assert.match(wrongFrom.body, new RegExp(`expected --from ${first.clusterId}`));
    const moved = await api.inject({ method: "POST", url, payload: { from: first.clusterId } });
    assert.equal(moved.statusCode, 200, moved.body);
    const view = moved.json<GatewayReassignView>();
    assert.deepEqual(
      [view.from, view.to, view.gatewayEpoch],
      [first.clusterId, second.clusterId, held.d.epoch],
    );
    const trail = (await api.inject("/v1/audit?after=0&limit=100")).json<AuditPage>().entries;
    const entry = trail.find((e) => e.route === "/v1/gateways/:gateway/reassign" && e.status === 200);
    assert.deepEqual(
      [entry?.role, entry?.params.gateway, entry?.params.from, entry?.params.to],
      ["admin", "paper", first.clusterId, second.clusterId],
    );
  } finally {
    await api.close();
  }
  const gatewayRow = (await auditAfter(gw, 0)).find(
    (r) => r.kind === "controller" && r.outcome === "reassigned",
  );
  const detail = JSON.parse(gatewayRow?.detail ?? "{}") as { from?: string; to?: string; by?: string };
  assert.deepEqual([detail.from, detail.to], [first.clusterId, second.clusterId]);
  assert.match(detail.by ?? "", /^token \S+ \(test-admin\)$/, "who asked, in the gateway's own audit");

  // The second orchestrator's fences pass now: the account moves to its deployment, with no
  // epoch-behind (its sequence was moved past the gateway's) and no unknown-previous (taken over).
  const now = await trading(second, gw, twos, "the second orchestrator trading");
  assert.ok(BigInt(now.d.epoch) > BigInt(held.d.epoch));
  assert.equal(alerts(second, "epoch-behind"), 0);
  assert.equal(alerts(second, "unknown-previous"), 0);

  // The first is refused now, and says so.
  await assert.rejects(first.core.kill("acct-1", "not mine any more"), (err: unknown) => {
    assert.ok(err instanceof WrongControllerError);
    assert.deepEqual([err.holder, err.caller], [second.clusterId, first.clusterId]);
    return true;
  });
  assert.equal((await gw.observer.accounts("acct-1"))[0]?.killed, false);
  assert.ok(alerts(first, "wrong-controller") >= 1);
});

test("a restored old store (same cluster, epochs behind the gateway's) fences again after one refusal", async () => {
  const gw = await gatewayProcess();
  const dir = dirs.make("hive-orch-restore-");
  const store = join(dir, "o.db");
  const backup = join(dir, "backup.db");
  let o = await orchestrator(store, gw);
  const port = Number(new URL(o.runnerUrl).port);
  const rs = [liveFakeRunner(o, "live-1", 45000), liveFakeRunner(o, "live-2", 45100)];
  runners.push(...rs);
  await o.core.applyLayout(fencedMomentum(1), "fenced.yaml");
  const before = await trading(o, gw, rs, "trading before the backup");

  // The backup: the store's file, closed (so whole, its WAL checkpointed).
  await closeOrchestrator(o);
  assert.equal(existsSync(`${store}-wal`), false);
  copyFileSync(store, backup);

  // Life goes on: three failovers move the gateway three epochs past the backup.
  o = await orchestrator(store, gw, port);
  await trading(o, gw, rs, "trading after the backup");
  for (let i = 0; i < 3; i++) {
    await until("a running standby", async () =>
      (await o.core.listDeployments({ layout: "fenced" })).find(
        (d) => d.role === "standby" && d.phase === "running",
      ),
    );
    await o.core.failover("fenced", "momentum");
  }
  const moved = await trading(o, gw, rs, "trading after three failovers");
  const gatewayEpoch = BigInt(moved.fence.epoch);
  assert.ok(gatewayEpoch >= BigInt(before.d.epoch) + 3n);
  await closeOrchestrator(o);

  // The restore.
  const seq = (await auditAfter(gw, 0)).at(-1)?.seq ?? 0;
  rmSync(store);
  copyFileSync(backup, store);
  const { log, lines } = recordingLogger();
  o = await orchestrator(store, gw, port, log);
  assert.equal(o.clusterId, (await gw.observer.status()).controller?.clusterId, "the same cluster");
  const after = await trading(o, gw, rs, "trading after the restore");
  assert.ok(BigInt(after.d.epoch) > gatewayEpoch, "its epoch passed the gateway's");

  const fences = (await auditAfter(gw, seq)).filter((r) => r.kind === "fence");
  assert.deepEqual(
    fences.map((r) => r.outcome),
    ["refused", "fenced"],
    `one refused fence, then the one that passed: ${JSON.stringify(fences.map((r) => [r.outcome, r.deploymentId, r.epoch]))}`,
  );
  assert.equal(fences[1]?.epoch, after.d.epoch);
  assert.equal(alerts(o, "epoch-behind"), 1);
  const alert = lines.find((l) => l.alert === "epoch-behind");
  assert.equal(alert?.level, 50, "error level");
  assert.equal(alert?.gatewayEpoch, gatewayEpoch.toString());
});

test("a fence taking an account from a deployment nobody here knows raises unknown-previous; from its own lost active, not", async () => {
  const gateway = new FakeGateway();
  // Fenced by someone else before this orchestrator existed, at an epoch below its first.
  gateway.fences.set("acct-1", {
    account: "acct-1",
    deploymentId: "stranger-1",
    epoch: "0",
    nodeKey: null,
    fencedAtUnixMs: 0,
  });
  const { log, lines } = recordingLogger();
  const o = await startOrchestrator(
    compileOrchestratorOptions({
      store: `sqlite:${join(dirs.make("hive-orch-unknown-"), "o.db")}`,
      runnerListen: { host: "127.0.0.1", port: 0 },
      heartbeatIntervalMs: 50,
      runnerLeaseMs: 200,
      downAfterMs: 400,
      stopGraceMs: 100,
      gateways: [
        { name: "paper", orders: "tcp://127.0.0.1:7999", control: "tcp://127.0.0.1:7998", publicKey: "" },
      ],
    }),
    { log, connectGateway: () => gateway },
  );
  orchestrators.add(o);
  const rs = [liveFakeRunner(o, "live-1", 46000), liveFakeRunner(o, "live-2", 46100)];
  runners.push(...rs);
  await o.core.applyLayout(fencedMomentum(1), "fenced.yaml");
  const first = await until("fenced to its active", async () => {
    const d = (await o.core.listDeployments({ layout: "fenced" })).find((x) => x.role === "active");
    return d && gateway.fences.get("acct-1")?.deploymentId === d.id ? d : undefined;
  });
  assert.equal(alerts(o, "unknown-previous"), 1);
  const alert = lines.find((l) => l.alert === "unknown-previous");
  assert.deepEqual([alert?.level, alert?.previous, alert?.deploymentId], [50, "stranger-1", first.id]);

  // Its active's node is lost: the standby takes the account from a deployment it knows (or
  // forgot after its stop): no alert.
  await until("a running standby", async () =>
    (await o.core.listDeployments({ layout: "fenced" })).find(
      (d) => d.role === "standby" && d.phase === "running",
    ),
  );
  await rs.find((r) => r["options"].nodeId === first.nodeId)?.close();
  await until("failed over", () => {
    const f = gateway.fences.get("acct-1");
    return f !== undefined && f.deploymentId !== first.id ? f : undefined;
  });
  assert.equal(alerts(o, "unknown-previous"), 1, "no alert for its own lost active");
});
