import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { pino } from "pino";
import { after, before, describe, test } from "node:test";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { ApplyResult, DeploymentView, LayoutView, NodeView } from "../control-plane.ts";
import type { ErrorBody } from "./error-body.ts";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { testApi } from "./testing/test-api.ts";

const LIVE = "test/fixtures/live-gateway-service.yaml";
const BAD = "examples/layouts/invalid/memory-lots.yaml";

function setup() {
  const control = new FakeControlPlane({
    datasets: [
      { id: "es-ticks", version: "2024", source: "file:///data/es", bytes: 1024, hotOn: ["data-1"] },
    ],
  });
  const metrics = { contentType: "text/plain; version=0.0.4", render: () => Promise.resolve("hive_up 1\n") };
  return { control, app: testApi({ control, metrics }) };
}

describe("HTTP API", () => {
  const { control, app } = setup();
  const apply = (file: string) =>
    app.inject({ method: "POST", url: "/v1/layouts", payload: { source: readFileSync(file, "utf8"), file } });
  before(async () => {
    const r = await apply(LIVE);
    assert.equal(r.statusCode, 200);
  });
  after(() => app.close());

  test("GET /healthz and /metrics", async () => {
    const health = await app.inject("/healthz");
    assert.deepEqual(health.json(), { ok: true });
    const metrics = await app.inject("/metrics");
    assert.equal(metrics.statusCode, 200);
    assert.equal(metrics.headers["content-type"], "text/plain; version=0.0.4");
    assert.equal(metrics.body, "hive_up 1\n");
  });

  test("GET /metrics without a metrics source is a 404", async () => {
    const bare = testApi({ control: new FakeControlPlane() });
    const r = await bare.inject("/metrics");
    assert.equal(r.statusCode, 404);
    assert.equal(r.json<ErrorBody>().error.code, "not_found");
    await bare.close();
  });

  test("POST /v1/layouts answers what changed; re-applying changes nothing", async () => {
    const r = await apply(LIVE);
    assert.equal(r.statusCode, 200);
    const result = r.json<ApplyResult>();
    assert.equal(result.layout, "live-momentum");
    assert.equal(result.generation, 2);
    assert.deepEqual(result.unchanged, ["feeder", "momentum", "gateway"]);
  });

  test("POST /v1/layouts with a bad layout: 400 with every issue, naming file and line", async () => {
    const r = await apply(BAD);
    assert.equal(r.statusCode, 400);
    const { error } = r.json<ErrorBody>();
    assert.equal(error.code, "invalid_argument");
    const issue = error.issues?.[0];
    assert.equal(issue?.file, BAD);
    assert.equal(issue?.path, "services[0].resources.memory");
    assert.equal(typeof issue?.line, "number");
    assert.match(error.message, /memory-lots\.yaml:\d+:\d+: services\[0\]\.resources\.memory: found "lots"/);
  });

  test("a bad body is a 400 naming the field", async () => {
    const wrongType = await app.inject({
      method: "POST",
      url: "/v1/layouts",
      payload: { source: 1, file: "x" },
    });
    assert.equal(wrongType.statusCode, 400);
    assert.deepEqual(wrongType.json<ErrorBody>().error.issues, [
      { path: "body.source", found: "1", expected: "a string" },
    ]);
    const extra = await app.inject({
      method: "POST",
      url: "/v1/layouts",
      payload: { source: "", file: "x", force: true },
    });
    assert.match(
      extra.json<ErrorBody>().error.message,
      /body\.force: found an unknown field, expected only source, file/,
    );
    const none = await app.inject({ method: "POST", url: "/v1/layouts" });
    assert.equal(none.statusCode, 400);
    assert.match(none.json<ErrorBody>().error.message, /body: missing, expected a JSON object/);
    const notJson = await app.inject({
      method: "POST",
      url: "/v1/layouts",
      headers: { "content-type": "application/json" },
      payload: "{nope",
    });
    assert.equal(notJson.statusCode, 400);
    assert.equal(notJson.json<ErrorBody>().error.code, "invalid_argument");
    const text = await app.inject({
      method: "POST",
      url: "/v1/layouts",
      headers: { "content-type": "text/plain" },
      payload: "hello",
    });
    assert.equal(text.statusCode, 415, "a body that is not JSON is refused for its type");
  });

  test("GET /v1/layouts and /v1/layouts/:name; an unknown name is a 404", async () => {
    const list = (await app.inject("/v1/layouts")).json<LayoutView[]>();
    assert.deepEqual(
      list.map((l) => l.name),
      ["live-momentum"],
    );
    const one = await app.inject("/v1/layouts/live-momentum");
    assert.equal(one.json<LayoutView>().deployments.length, 4);
    const missing = await app.inject("/v1/layouts/nope");
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { error: { code: "not_found", message: 'no layout "nope"' } });
  });

  test("GET /v1/nodes and POST /v1/nodes/:id/drain", async () => {
    const nodes = (await app.inject("/v1/nodes")).json<NodeView[]>();
    assert.deepEqual(
      nodes.map((n) => n.id),
      ["live-1", "data-1"],
    );
    const drain = (draining: unknown, id = "live-1") =>
      app.inject({ method: "POST", url: `/v1/nodes/${id}/drain`, payload: { draining } });
    assert.equal((await drain(true)).json<NodeView>().draining, true);
    assert.equal((await drain(false)).json<NodeView>().draining, false);
    const bad = await drain("yes");
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(bad.json<ErrorBody>().error.issues, [
      { path: "body.draining", found: '"yes"', expected: "a boolean" },
    ]);
    assert.equal((await drain(true, "nope")).statusCode, 404);
  });

  test("GET /v1/deployments filters by layout and node; unknown query fields are a 400", async () => {
    const all = (await app.inject("/v1/deployments?layout=live-momentum")).json<DeploymentView[]>();
    assert.deepEqual(all.map((d) => d.id).sort(), [
      "live-momentum.feeder",
      "live-momentum.gateway",
      "live-momentum.momentum",
      "live-momentum.momentum-standby-1",
    ]);
    assert.deepEqual((await app.inject("/v1/deployments?node=data-1")).json(), []);
    const bad = await app.inject("/v1/deployments?nodeId=x");
    assert.equal(bad.statusCode, 400);
    assert.match(
      bad.json<ErrorBody>().error.message,
      /query\.nodeId: found an unknown field, expected only layout, node/,
    );
  });

  test("GET /v1/explain needs layout and service", async () => {
    const r = await app.inject("/v1/explain?layout=live-momentum&service=momentum");
    assert.equal(r.statusCode, 200);
    assert.match(r.json<{ summary: string }>().summary, /chosen/);
    const missing = await app.inject("/v1/explain?layout=live-momentum");
    assert.equal(missing.statusCode, 400);
    assert.match(missing.json<ErrorBody>().error.message, /query\.service: missing, expected a string/);
    const unknown = await app.inject("/v1/explain?layout=live-momentum&service=nope");
    assert.equal(unknown.statusCode, 404);
  });

  test("GET /v1/deployments/:id/logs streams text; stream and tail are honoured", async () => {
    control.appendLog("live-momentum.feeder", "tick 1\n");
    control.appendLog("live-momentum.feeder", "tick 2\n");
    control.appendLog("live-momentum.feeder", "oops\n", "stderr");
    const out = await app.inject("/v1/deployments/live-momentum.feeder/logs");
    assert.equal(out.statusCode, 200);
    assert.equal(out.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(out.body, "tick 1\ntick 2\n");
    const err = await app.inject("/v1/deployments/live-momentum.feeder/logs?stream=stderr&follow=false");
    assert.equal(err.body, "oops\n");
    const tail = await app.inject("/v1/deployments/live-momentum.feeder/logs?tail=7");
    assert.equal(tail.body, "tick 2\n");
    const bad = await app.inject("/v1/deployments/live-momentum.feeder/logs?stream=both&tail=-1");
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(
      bad.json<ErrorBody>().error.issues?.map((i) => i.path),
      ["query.stream", "query.tail"],
    );
    const missing = await app.inject("/v1/deployments/nope/logs?follow=true");
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { error: { code: "not_found", message: 'no deployment "nope"' } });
  });

  test("GET /v1/datasets", async () => {
    const r = await app.inject("/v1/datasets");
    assert.deepEqual(r.json(), [
      { id: "es-ticks", version: "2024", source: "file:///data/es", bytes: 1024, hotOn: ["data-1"] },
    ]);
  });

  test("DELETE /v1/layouts/:name stops the layout; again is a 404", async () => {
    const { control: c, app: a } = setup();
    await a.inject({
      method: "POST",
      url: "/v1/layouts",
      payload: { source: readFileSync(LIVE, "utf8"), file: LIVE },
    });
    const r = await a.inject({ method: "DELETE", url: "/v1/layouts/live-momentum" });
    assert.deepEqual(r.json(), { layout: "live-momentum", stopped: true });
    assert.equal((await a.inject({ method: "DELETE", url: "/v1/layouts/live-momentum" })).statusCode, 404);
    assert.deepEqual(await c.listLayouts(), []);
    await a.close();
  });

  test("an unknown route is a 404 in the same error body", async () => {
    const r = await app.inject("/v1/nope");
    assert.equal(r.statusCode, 404);
    assert.deepEqual(r.json(), { error: { code: "not_found", message: "no route GET /v1/nope" } });
  });

  test("every error code has its status, and the body carries code and message", async () => {
    const cases: [ErrorCode, number][] = [
      [ErrorCode.InvalidArgument, 400],
      [ErrorCode.PermissionDenied, 403],
      [ErrorCode.NotFound, 404],
      [ErrorCode.AlreadyExists, 409],
      [ErrorCode.FailedPrecondition, 422],
      [ErrorCode.Unavailable, 503],
      [ErrorCode.Internal, 500],
    ];
    const { control: c, app: a } = setup();
    for (const [code, status] of cases) {
      c.failWith(new HiveError(code, `failed with ${code}`));
      const r = await a.inject("/v1/nodes");
      assert.equal(r.statusCode, status, code);
      assert.deepEqual(r.json(), { error: { code, message: `failed with ${code}` } });
    }
    c.failWith(new TypeError("a bug") as unknown as HiveError);
    const bug = await a.inject("/v1/datasets");
    assert.equal(bug.statusCode, 500);
    assert.deepEqual(bug.json(), { error: { code: "internal", message: "a bug" } });
    await a.close();
  });

  test("with a logger: one line per request, reads at debug, changes at info, 5xx at error", async () => {
    const lines: { level: number; msg: string; method?: string; url?: string; status?: number }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
        done();
      },
    });
    const c = new FakeControlPlane();
    const a = testApi({ control: c, log: pino({ level: "debug" }, sink) });
    await a.inject("/v1/nodes");
    await a.inject({ method: "POST", url: "/v1/nodes/live-1/drain", payload: { draining: true } });
    c.failWith(new HiveError(ErrorCode.Internal, "a bug"));
    await a.inject("/v1/datasets");
    await a.close();
    const requests = lines.filter((l) => l.msg.startsWith("http request"));
    assert.deepEqual(
      requests.map((l) => [l.level, l.method, l.url, l.status]),
      [
        [20, "GET", "/v1/nodes", 200],
        [30, "POST", "/v1/nodes/live-1/drain", 200],
        [50, undefined, undefined, undefined],
        [20, "GET", "/v1/datasets", 500],
      ],
    );
  });
});
