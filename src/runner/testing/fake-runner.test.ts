import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Pool, ProcessState, SocketDirection, SocketPattern } from "../../protocol/index.ts";
import { FakeRunner } from "./fake-runner.ts";
import { FakeOrchestrator } from "./fake-orchestrator.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function stub(heartbeatIntervalMs = 20) {
  const s = await FakeOrchestrator.start({ heartbeatIntervalMs });
  cleanups.push(() => s.close());
  return s;
}

function runner(
  urls: string[],
  nodeId: string,
  over: Partial<ConstructorParameters<typeof FakeRunner>[0]> = {},
) {
  const r = new FakeRunner({
    nodeId,
    pool: "live",
    tags: ["live_node"],
    urls,
    portRange: { first: 41000, last: 41002 },
    ...over,
  });
  cleanups.push(() => r.close());
  r.start();
  return r;
}

const spawn = (deploymentId: string) => ({
  case: "spawnRequest" as const,
  value: {
    requestId: `req-${deploymentId}`,
    deploymentId,
    layout: "live-momentum",
    service: "feeder",
    epoch: 3n,
    command: "feeder",
    sockets: [{ name: "market_data", pattern: SocketPattern.PUB, direction: SocketDirection.OFFER }],
    portNames: ["metrics"],
  },
});

test("registers with its specs, spawns fake processes with addresses from its range, heartbeats them", async () => {
  const s = await stub();
  const r = runner([s.url], "mock-1");
  const session = await s.waitForRunner("mock-1");
  assert.equal(session.register.pool, Pool.LIVE);
  assert.deepEqual(session.register.tags, ["live_node"]);
  session.send(spawn("feeder-1"));
  const answer = await session.next("spawnResponse");
  assert.equal(answer.ok, true);
  assert.deepEqual(
    answer.addresses.map((a) => [a.socketName, a.address]),
    [
      ["market_data", "tcp://127.0.0.1:41000"],
      ["metrics", "tcp://127.0.0.1:41001"],
    ],
  );
  const hb = await session.next("heartbeat", (h) => h.processes.some((p) => p.deploymentId === "feeder-1"));
  assert.equal(hb.processes[0]?.state, ProcessState.RUNNING);
  r.exit("feeder-1", 3);
  const failed = await session.next("heartbeat", (h) => h.processes[0]?.state === ProcessState.FAILED);
  assert.equal(failed.processes[0]?.exitCode, 3);
});

test("a full port range is answered with an error, not a made-up port", async () => {
  const s = await stub();
  runner([s.url], "mock-2");
  const session = await s.waitForRunner("mock-2");
  session.send(spawn("a"));
  await session.next("spawnResponse", (r) => r.deploymentId === "a");
  session.send(spawn("b"));
  const b = await session.next("spawnResponse", (r) => r.deploymentId === "b");
  assert.equal(b.ok, false);
  assert.match(b.error?.message ?? "", /port range of mock-2 is full/);
});

test("after a reconnect, Register lists what still runs, so nothing is restarted", async () => {
  const s = await stub();
  runner([s.url], "mock-3");
  const first = await s.waitForRunner("mock-3");
  first.send(spawn("feeder-9"));
  await first.next("spawnResponse");
  first.end();
  const second = await s.waitForRunner("mock-3", first);
  assert.deepEqual(
    second.register.runningDeployments.map((d) => [d.deploymentId, d.epoch, d.ports]),
    [["feeder-9", 3n, [41000, 41001]]],
  );
});

test("routes and datasets are acknowledged, stops answered", async () => {
  const s = await stub();
  runner([s.url], "mock-4", { pool: "backtest" });
  const session = await s.waitForRunner("mock-4");
  session.send({ case: "routeUpdate", value: { version: 5n } });
  assert.equal((await session.next("routeAck")).version, 5n);
  session.send({ case: "datasetLoad", value: { id: "es", version: "1", sizeBytes: 1024n } });
  const status = await session.next("datasetStatus");
  assert.equal(status.loadedBytes, 1024n);
  const hb = await session.next("heartbeat", (h) => h.hotDatasets.length > 0);
  assert.equal(hb.hotDatasets[0]?.id, "es");
  session.send({ case: "stopRequest", value: { requestId: "s1", deploymentId: "nope" } });
  assert.equal((await session.next("stopResponse")).ok, false);
});

test("sends its CURVE public key in Register and records the routes' gateway keys", async () => {
  const s = await stub();
  const key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
  const r = runner([s.url], "mock-5", { curvePublicKey: key });
  const session = await s.waitForRunner("mock-5");
  assert.equal(session.register.curvePublicKey, key);
  const gatewayKey = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
  session.send({
    case: "routeUpdate",
    value: {
      version: 1n,
      routes: [
        {
          deploymentId: "live-1",
          socketName: "orders",
          remoteAddresses: ["tcp://127.0.0.1:5555"],
          curveServerKey: gatewayKey,
        },
      ],
    },
  });
  await session.next("routeAck", (a) => a.version === 1n);
  assert.deepEqual(r.routes.get("live-1/orders"), {
    remotes: ["tcp://127.0.0.1:5555"],
    curveServerKey: gatewayKey,
  });
  const plain = runner([s.url], "mock-6");
  assert.equal((await s.waitForRunner("mock-6")).register.curvePublicKey, "");
  await plain.close();
});

test("two hundred mock runners register and heartbeat from one process", async () => {
  const s = await stub(250);
  const ids = Array.from({ length: 200 }, (_, i) => `sim-${i}`);
  for (const id of ids) runner([s.url], id, { pool: "backtest" });
  const sessions = await Promise.all(ids.map((id) => s.waitForRunner(id)));
  await Promise.all(sessions.map((session) => session.next("heartbeat")));
  assert.deepEqual(new Set(sessions.map((x) => x.register.nodeId)), new Set(ids));
});
