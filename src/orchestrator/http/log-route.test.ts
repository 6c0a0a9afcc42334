import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { testApi } from "./testing/test-api.ts";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";

const LAYOUT = [
  "name: demo",
  "services:",
  "  - name: feeder",
  "    kind: feeder",
  "    pool: live",
  "    command: node",
  "    resources: { cores: 1, memory: 64MiB }",
].join("\n");

/** TCP handles still open: none may be left once the server is closed and the request aborted. */
async function tcpHandles(): Promise<string[]> {
  for (let i = 0; i < 50; i++) {
    const open = process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP"));
    if (open.length === 0) return open;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP"));
}

test("a real listen: logs follow streams chunked text; a client that goes away aborts the read", async () => {
  const control = new FakeControlPlane();
  await control.applyLayout(LAYOUT, "demo.yaml");
  control.appendLog("demo.feeder", "tick 1\n");
  const api = testApi({ control });
  const app = api.app;
  await api.ready;
  const auth = { authorization: `Bearer ${api.tokens.viewer}` };
  await app.listen({ host: "127.0.0.1", port: 0 });
  try {
    const { port } = app.server.address() as AddressInfo;
    const base = `http://127.0.0.1:${port}`;
    assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { ok: true });

    const abort = new AbortController();
    const res = await fetch(`${base}/v1/deployments/demo.feeder/logs?follow=true`, {
      signal: abort.signal,
      headers: auth,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("transfer-encoding"), "chunked");
    assert.ok(res.body);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const read = async () => decoder.decode((await reader.read()).value as Uint8Array);
    assert.equal(await read(), "tick 1\n");
    control.appendLog("demo.feeder", "tick 2\n");
    assert.equal(await read(), "tick 2\n");

    const aborted = control.nextLogAbort();
    abort.abort();
    await assert.rejects(reader.read(), { name: "AbortError" });
    await aborted;
    assert.equal(control.logsAborted, 1);
  } finally {
    await app.close();
  }
  assert.deepEqual(await tcpHandles(), []);
});

test("closing the server ends an open follow cleanly: the client sees the end, not an error", async () => {
  const control = new FakeControlPlane();
  await control.applyLayout(LAYOUT, "demo.yaml");
  control.appendLog("demo.feeder", "tick 1\n");
  const api = testApi({ control });
  const app = api.app;
  await api.ready;
  const auth = { authorization: `Bearer ${api.tokens.viewer}` };
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/v1/deployments/demo.feeder/logs?follow=true`, {
    headers: auth,
  });
  assert.ok(res.body);
  const reader = res.body.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value as Uint8Array), "tick 1\n");
  const aborted = control.nextLogAbort();
  await app.close();
  await aborted;
  assert.deepEqual(await reader.read(), { done: true, value: undefined });
  assert.deepEqual(await tcpHandles(), []);
});
