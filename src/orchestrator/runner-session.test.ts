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
    /route update 1 on node-a: no answer in 50 ms/,
  );
  s.close("test over");
});
