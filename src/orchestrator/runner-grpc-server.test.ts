import assert from "node:assert/strict";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { after, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { AsyncQueue } from "../core/async-queue.ts";
import { until } from "../core/testing/until.ts";
import {
  Pool,
  PROTOCOL_VERSION,
  RunnerMessageSchema,
  RunnerService,
  type OrchestratorMessage,
  type RunnerMessage,
} from "../protocol/index.ts";
import { grpcJsTransport } from "../runner/link/grpc-transport.ts";
import { serveRunnerStreams } from "./runner-grpc-server.ts";
import type { RunnerStreamHandler } from "./runner-service.ts";
import type { RunnerSession } from "./runner-session.ts";

// The runner protocol on the network: the orchestrator's grpc-js server and the runner's grpc-js
// transport, on loopback, with a handler that records what reaches it.

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const OPTIONS = { joinToken: "s3cret", heartbeatIntervalMs: 100, leaseTtlMs: 300 };

/** A handler that accepts every registration (sending `onAccept` messages first) and records the rest. */
function recordingHandler(onAccept?: (session: RunnerSession) => void) {
  const seen = { messages: [] as RunnerMessage[], closed: [] as string[], sessions: [] as RunnerSession[] };
  const handler: RunnerStreamHandler = {
    onRegister(register, session) {
      seen.sessions.push(session);
      onAccept?.(session);
      return register.nodeId === "unwelcome"
        ? { accepted: false, reason: "not on the list" }
        : { accepted: true };
    },
    onMessage: (_node, _session, m) => void seen.messages.push(m),
    onClose: (node) => void seen.closed.push(node),
  };
  return { handler, seen };
}

async function serve(handler: RunnerStreamHandler) {
  const server = await serveRunnerStreams(handler, OPTIONS, { host: "127.0.0.1", port: 0 });
  cleanups.push(() => server.close());
  return server;
}

/** Opens a runner stream; returns its outgoing queue, what came back, and how it ended. */
function open(url: string, signal?: AbortSignal) {
  const outgoing = new AsyncQueue<RunnerMessage>();
  const received: OrchestratorMessage[] = [];
  const client = createClient(RunnerService, grpcJsTransport(url));
  const ended = (async () => {
    for await (const m of client.connect(outgoing, { signal })) received.push(m);
  })().then(
    () => undefined,
    (err: unknown) => ConnectError.from(err),
  );
  cleanups.push(() => outgoing.close());
  return { outgoing, received, ended };
}

const register = (nodeId: string, joinToken = OPTIONS.joinToken) =>
  create(RunnerMessageSchema, {
    message: {
      case: "register",
      value: { protocolVersion: PROTOCOL_VERSION, nodeId, pool: Pool.LIVE, joinToken },
    },
  });

test("a registered runner's heartbeats are acked and handed on; its end closes the session", async () => {
  const { handler, seen } = recordingHandler();
  const server = await serve(handler);
  const s = open(server.url);
  s.outgoing.push(register("node-a"));
  s.outgoing.push(create(RunnerMessageSchema, { message: { case: "heartbeat", value: { seq: 41n } } }));
  s.outgoing.push(create(RunnerMessageSchema, { message: { case: "heartbeat", value: { seq: 42n } } }));
  await until("two heartbeat acks", () => s.received.length >= 3);
  const [first, ...acks] = s.received;
  assert.equal(first?.message.case, "registerAck");
  assert.equal(first.message.case === "registerAck" && first.message.value.accepted, true);
  assert.equal(first.message.case === "registerAck" && first.message.value.leaseTtlMs, 300);
  assert.deepEqual(
    acks.map((m) => (m.message.case === "heartbeatAck" ? m.message.value.seq : -1n)),
    [41n, 42n],
  );
  assert.deepEqual(
    seen.messages.map((m) => m.message.case),
    ["heartbeat", "heartbeat"],
  );
  s.outgoing.close();
  assert.equal(await s.ended, undefined, "the response ends cleanly once the runner's half ends");
  await until("the session closed", () => seen.closed.includes("node-a"));
  assert.equal(seen.sessions[0]?.open, false);
});

test("what the orchestrator sends while accepting a runner arrives after its RegisterAck", async () => {
  const { handler } = recordingHandler((session) =>
    session.send({ case: "stopRequest", value: { requestId: "r1", deploymentId: "d1", gracePeriodMs: 10 } }),
  );
  const server = await serve(handler);
  const s = open(server.url);
  s.outgoing.push(register("node-b"));
  await until("two messages", () => s.received.length >= 2);
  assert.deepEqual(
    s.received.map((m) => m.message.case),
    ["registerAck", "stopRequest"],
  );
});

test("refusals: a bad join token, a first message that is not a Register, the handler's no", async () => {
  const { handler, seen } = recordingHandler();
  const server = await serve(handler);
  const cases = [
    { first: register("node-c", "wrong"), reason: /bad join token/ },
    {
      first: create(RunnerMessageSchema, { message: { case: "heartbeat", value: { seq: 1n } } }),
      reason: /first message must be a Register, not heartbeat/,
    },
    { first: register("unwelcome"), reason: /not on the list/ },
  ];
  for (const c of cases) {
    const s = open(server.url);
    s.outgoing.push(c.first);
    assert.equal(await s.ended, undefined, "the orchestrator ends the stream after refusing");
    assert.equal(s.received.length, 1);
    const ack = s.received[0]?.message;
    assert.equal(ack?.case, "registerAck");
    assert.equal(ack.value.accepted, false);
    assert.match(ack.value.reason, c.reason);
  }
  assert.deepEqual(seen.messages, [], "nothing of a refused stream reaches the handler");
});

test("closing the server ends every runner's stream, and the runner sees it as unavailable", async () => {
  const { handler, seen } = recordingHandler();
  const server = await serveRunnerStreams(handler, OPTIONS, { host: "127.0.0.1", port: 0 });
  const s = open(server.url);
  s.outgoing.push(register("node-d"));
  await until("registered", () => s.received.length >= 1);
  await server.close();
  const err = await s.ended;
  assert.ok(err instanceof ConnectError, "the runner's stream fails");
  await until("the session closed", () => seen.closed.includes("node-d"));
});

test("the runner's transport: aborting a stream ends it at both ends; nobody listening is Unavailable", async () => {
  const { handler, seen } = recordingHandler();
  const server = await serve(handler);
  const abort = new AbortController();
  const s = open(server.url, abort.signal);
  s.outgoing.push(register("node-e"));
  await until("registered", () => s.received.length >= 1);
  abort.abort();
  assert.equal((await s.ended)?.code, Code.Canceled);
  await until("the orchestrator saw the stream end", () => seen.closed.includes("node-e"));

  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const p = (probe.address() as { port: number }).port;
      probe.close(() => resolve(p));
    });
  });
  const nobody = open(`http://127.0.0.1:${port}`);
  nobody.outgoing.push(register("node-f"));
  assert.equal((await nobody.ended)?.code, Code.Unavailable);
  assert.throws(() => grpcJsTransport("ftp://example.invalid:1"), /https:\/\/ \(mutual TLS\) or http:\/\//);
  assert.throws(
    () => grpcJsTransport("https://example.invalid:1"),
    /needs the cluster CA, a node certificate/,
  );
});

test("the runner's transport keeps its connection across streams that were answered, and close() ends it", async () => {
  const { handler, seen } = recordingHandler();
  const server = await serve(handler);
  // A TCP relay in front of the orchestrator that counts connections and sees them close.
  const upstream = new URL(server.url);
  const accepted: Socket[] = [];
  const relay = createServer((inbound) => {
    accepted.push(inbound);
    const outbound = connect(Number(upstream.port), upstream.hostname);
    inbound.pipe(outbound).pipe(inbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on("error", end).on("close", end);
    outbound.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => relay.close(() => resolve())));
  const transport = grpcJsTransport(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`);
  const client = createClient(RunnerService, transport);
  for (const nodeId of ["node-g1", "node-g2"]) {
    const abort = new AbortController();
    const outgoing = new AsyncQueue<RunnerMessage>();
    outgoing.push(register(nodeId));
    const received: OrchestratorMessage[] = [];
    const ended = (async () => {
      for await (const m of client.connect(outgoing, { signal: abort.signal })) received.push(m);
    })().catch(() => undefined);
    await until(`${nodeId} registered`, () => received.length >= 1);
    abort.abort();
    await ended;
    await until(`${nodeId}'s stream closed at the orchestrator`, () => seen.closed.includes(nodeId));
  }
  assert.equal(accepted.length, 1, "both streams went over one connection");
  transport.close();
  await until("the connection closed", () => accepted[0]?.destroyed);
});
