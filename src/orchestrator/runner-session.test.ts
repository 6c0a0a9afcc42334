import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RunnerMessageSchema, type OrchestratorMessage } from "../protocol/index.ts";
import { ROUTE_ACK_TIMEOUT_MS, RunnerSession } from "./runner-session.ts";

function session(routeTimeoutMs?: number) {
  const sent: OrchestratorMessage[] = [];
  const s = new RunnerSession(
    "node-a",
    { push: (m) => void sent.push(m), close: () => undefined },
    30_000,
    routeTimeoutMs,
  );
  return { s, sent };
}

test("a route update is resolved by its ack, matched by version", async () => {
  const { s, sent } = session();
  const pending = s.routes(
    [{ deploymentId: "d", socket: "md", local: "ipc:///x", remotes: ["tcp://h:1"] }],
    [],
  );
  const update = sent[0]?.message;
  assert.equal(update?.case, "routeUpdate");
  const version = update.case === "routeUpdate" ? update.value.version : 0n;
  assert.equal(
    s.deliver(
      create(RunnerMessageSchema, { message: { case: "routeAck", value: { version: version + 1n } } }),
    ),
    false,
    "an ack of another version settles nothing",
  );
  assert.equal(
    s.deliver(create(RunnerMessageSchema, { message: { case: "routeAck", value: { version } } })),
    true,
  );
  await pending;
});

test("a route update never acked fails after the route timeout, not the session's 30 s", async () => {
  assert.ok(ROUTE_ACK_TIMEOUT_MS < 30_000);
  const { s } = session(50);
  await assert.rejects(
    s.routes([], [{ deploymentId: "d", socket: "md" }]),
    /route update \d+ on node-a: no answer in 50 ms/,
  );
  s.close("test over");
});

test("a late ack sent for a runner's earlier stream cannot acknowledge the next stream's update", () => {
  const versionOf = (sent: OrchestratorMessage[]) => {
    const m = sent.at(-1)?.message;
    return m?.case === "routeUpdate" ? m.value.version : undefined;
  };
  const before = session(60_000);
  void before.s.routes([], [{ deploymentId: "d", socket: "md" }]).catch(() => undefined);
  const old = versionOf(before.sent);
  before.s.close("the stream broke");
  // The runner registers again and gets the full table again, as the first update of this stream.
  const after = session(60_000);
  void after.s.routes([], [{ deploymentId: "d", socket: "md" }]).catch(() => undefined);
  const now = versionOf(after.sent);
  assert.ok(old !== undefined && now !== undefined);
  assert.notEqual(now, old);
  assert.equal(
    after.s.deliver(create(RunnerMessageSchema, { message: { case: "routeAck", value: { version: old } } })),
    false,
    "the old stream's ack settles nothing on the new one",
  );
  after.s.close("test over");
});
