import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { after, test } from "node:test";
import { PROTOCOL_VERSION, RegisterSchema, type OrchestratorMessage } from "../../protocol/index.ts";
import { OrchestratorLink, type OrchestratorLinkState, type SlowMessage } from "./orchestrator-link.ts";
import { FakeOrchestrator } from "../testing/fake-orchestrator.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function makeLink(urls: string[], nodeId: string, registers = { count: 0 }, version = PROTOCOL_VERSION) {
  const received: OrchestratorMessage[] = [];
  const states: { state: OrchestratorLinkState; detail: string }[] = [];
  const link = new OrchestratorLink({
    urls,
    backoff: { initialMs: 20, maxMs: 100 },
    register: () => {
      registers.count++;
      return create(RegisterSchema, {
        protocolVersion: version,
        nodeId,
        runnerVersion: `boot-${registers.count}`,
      });
    },
    onMessage: (m) => void received.push(m),
    onState: (state, detail) => void states.push({ state, detail }),
  });
  cleanups.push(() => link.close());
  return { link, received, states, registers };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("registers, then carries messages both ways", async () => {
  const stub = await FakeOrchestrator.start();
  cleanups.push(() => stub.close());
  const { link, received } = makeLink([stub.url], "node-a");
  link.start();
  const session = await stub.waitForRunner("node-a");
  assert.equal(session.register.protocolVersion, PROTOCOL_VERSION);
  await until(() => link.state === "registered", "registered");
  assert.equal(link.ack?.heartbeatIntervalMs, 200);
  assert.equal(link.send({ case: "heartbeat", value: { seq: 7n } }), true);
  const hb = await session.next("heartbeat");
  assert.equal(hb.seq, 7n);
  session.send({ case: "stopRequest", value: { requestId: "r1", deploymentId: "d1", gracePeriodMs: 100 } });
  await until(() => received.length === 1, "the stop request");
  assert.equal(received[0]?.message.case, "stopRequest");
});

test("a refused registration is reported with its reason and retried", async () => {
  const stub = await FakeOrchestrator.start({
    accept: () => ({ accepted: false, reason: "bad join token" }),
  });
  cleanups.push(() => stub.close());
  const { link, states } = makeLink([stub.url], "node-b");
  link.start();
  await until(() => stub.registrations.length >= 2, "a retry after the refusal");
  assert.ok(states.some((s) => s.state === "refused" && /bad join token/.test(s.detail)));
  assert.equal(link.send({ case: "heartbeat", value: { seq: 1n } }), false);
});

test("a runner of another protocol version is refused with the versions named", async () => {
  const stub = await FakeOrchestrator.start();
  cleanups.push(() => stub.close());
  const { link, states } = makeLink([stub.url], "node-old", { count: 0 }, PROTOCOL_VERSION + 1);
  link.start();
  await until(() => states.some((s) => s.state === "refused"), "the refusal");
  assert.match(states.find((s) => s.state === "refused")?.detail ?? "", /protocol version 2 is not 1/);
});

test("when the stream ends, the runner reconnects and registers afresh", async () => {
  const stub = await FakeOrchestrator.start();
  cleanups.push(() => stub.close());
  const { link, registers } = makeLink([stub.url], "node-c");
  link.start();
  const first = await stub.waitForRunner("node-c");
  first.end();
  const second = await stub.waitForRunner("node-c", first);
  assert.notEqual(second, first);
  assert.equal(registers.count, 2);
  assert.equal(second.register.runnerVersion, "boot-2");
});

test("an orchestrator restarted on the same address gets the runner back", async () => {
  const stub = await FakeOrchestrator.start();
  const port = Number(new URL(stub.url).port);
  const { link, states } = makeLink([stub.url], "node-d");
  link.start();
  await stub.waitForRunner("node-d");
  await stub.close();
  await until(() => link.state !== "registered", "the link to notice");
  const again = await FakeOrchestrator.start({ port });
  cleanups.push(() => again.close());
  assert.equal(again.url, stub.url);
  await again.waitForRunner("node-d");
  await until(() => link.state === "registered", "registered again");
  assert.ok(states.some((s) => s.state === "disconnected"));
});

test("a stream on which the orchestrator stays silent past the lease is dropped and reopened", async () => {
  const stub = await FakeOrchestrator.start({ ackHeartbeats: false, leaseTtlMs: 150 });
  cleanups.push(() => stub.close());
  const { link, states } = makeLink([stub.url], "node-e");
  link.start();
  const first = await stub.waitForRunner("node-e");
  // Nothing more is sent on the first stream: no heartbeat acks.
  const second = await stub.waitForRunner("node-e", first);
  assert.notEqual(second, first);
  assert.ok(
    states.some(
      (s) => s.state === "disconnected" && /no word from the orchestrator in 150 ms/.test(s.detail),
    ),
  );
});

test("heartbeat acks keep a stream alive past the lease length", async () => {
  const stub = await FakeOrchestrator.start({ leaseTtlMs: 150 });
  cleanups.push(() => stub.close());
  const { link, states } = makeLink([stub.url], "node-f");
  link.start();
  const session = await stub.waitForRunner("node-f");
  await until(() => link.state === "registered", "registered");
  for (let seq = 1n; seq <= 8n; seq++) {
    assert.ok(link.send({ case: "heartbeat", value: { seq } }));
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(stub.sessions.get("node-f"), session);
  assert.ok(!states.some((s) => s.state === "disconnected"));
  assert.ok(link.silenceMs() < 150);
});

test("a dial that never gets a RegisterAck is given up after registerTimeoutMs and tried again", async () => {
  // Accepts TCP connections and never says a word: as a dial into a silent partition, or a hung
  // orchestrator, looks to the runner.
  const sockets: Socket[] = [];
  const silent = createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  const { port } = silent.address() as AddressInfo;
  const states: { state: OrchestratorLinkState; detail: string }[] = [];
  const link = new OrchestratorLink({
    urls: [`http://127.0.0.1:${port}`],
    backoff: { initialMs: 20, maxMs: 50 },
    registerTimeoutMs: 150,
    register: () => create(RegisterSchema, { protocolVersion: PROTOCOL_VERSION, nodeId: "node-h" }),
    onMessage: () => undefined,
    onState: (state, detail) => void states.push({ state, detail }),
  });
  cleanups.push(() => link.close());
  link.start();
  await until(() => sockets.length >= 2, "a second dial");
  assert.ok(
    states.some((s) => s.state === "disconnected" && /not registered within 150 ms/.test(s.detail)),
    JSON.stringify(states),
  );
  assert.notEqual(link.state, "registered");
});

test("a message slow to handle is reported while it holds the ones behind it, and when it ends", async () => {
  const stub = await FakeOrchestrator.start();
  cleanups.push(() => stub.close());
  const slow: SlowMessage[] = [];
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const handled: string[] = [];
  const link = new OrchestratorLink({
    urls: [stub.url],
    register: () => create(RegisterSchema, { protocolVersion: PROTOCOL_VERSION, nodeId: "node-slow" }),
    onMessage: async (m) => {
      if (m.message.case === "routeUpdate") await held;
      handled.push(m.message.case ?? "");
    },
    onSlowMessage: (s) => void slow.push(s),
    slowMessageMs: 30,
  });
  cleanups.push(() => link.close());
  link.start();
  const session = await stub.waitForRunner("node-slow");
  session.send({ case: "routeUpdate", value: { version: 1n } });
  session.send({ case: "stopRequest", value: { requestId: "r1", deploymentId: "d1", gracePeriodMs: 100 } });
  await until(() => slow.length >= 2, "two reports of the held route update");
  assert.deepEqual(handled, [], "the stop request waits behind it");
  assert.deepEqual(
    slow.slice(0, 2).map((s) => ({ kind: s.kind, waiting: s.waiting, done: s.done })),
    [
      { kind: "routeUpdate", waiting: 1, done: false },
      { kind: "routeUpdate", waiting: 1, done: false },
    ],
  );
  release();
  await until(() => handled.length === 2, "both handled once it is released");
  const last = slow.at(-1);
  assert.equal(last?.done, true);
  assert.equal(last?.kind, "routeUpdate");
  assert.equal(last?.waiting, 1, "the stop request was still waiting when it ended");
  assert.ok((last?.ms ?? 0) >= 30);
  const reports = slow.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(slow.length, reports, "no report once it ended, nor for the quick stop request");
});
