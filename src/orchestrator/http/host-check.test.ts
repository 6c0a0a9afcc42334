import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { createHttpApi } from "./create-http-api.ts";
import { compileAllowedHosts, hostAllowed, hostNameOf } from "./host-check.ts";

describe("host check (DNS rebinding)", () => {
  test("reads the name of a Host header", () => {
    assert.equal(hostNameOf("LocalHost:7071"), "localhost");
    assert.equal(hostNameOf("localhost.:7071"), "localhost");
    assert.equal(hostNameOf("[::1]:7071"), "::1");
    assert.equal(hostNameOf("::1"), "::1");
    assert.equal(hostNameOf("10.1.2.3:80"), "10.1.2.3");
    assert.equal(hostNameOf("hive.desk.example"), "hive.desk.example");
  });

  test("answers localhost, IP addresses and the operator's names, nothing else", () => {
    const allowed = compileAllowedHosts(["Hive.Desk.Example"]);
    for (const ok of [
      "localhost:7071",
      "127.0.0.1:7071",
      "[::1]:7071",
      "10.1.2.3",
      "hive.desk.example:7071",
      undefined,
    ])
      assert.equal(hostAllowed(ok, allowed), true, String(ok));
    for (const refused of [
      "evil.example:7071",
      "localhost.evil.example",
      "127.0.0.1.nip.io:7071",
      "desk.example",
      "hive.desk.example.evil",
    ])
      assert.equal(hostAllowed(refused, allowed), false, refused);
  });

  test("the API refuses a request for a foreign name with 403 permission_denied, before any route runs", async () => {
    const control = new FakeControlPlane();
    const app = createHttpApi({ control, allowedHosts: ["hive.desk.example"] });
    try {
      const refused = await app.inject({
        method: "POST",
        url: "/v1/accounts/paper-001/kill",
        headers: { host: "rebound.evil.example:7071", "content-type": "application/json" },
        payload: { reason: "from a web page" },
      });
      assert.equal(refused.statusCode, 403);
      const body = refused.json<{ error: { code: string; message: string } }>();
      assert.equal(body.error.code, "permission_denied");
      assert.match(body.error.message, /rebound\.evil\.example/);
      assert.deepEqual(control.calls, [], "the kill switch was not reached");
      assert.equal(
        (await app.inject({ method: "GET", url: "/healthz", headers: { host: "evil.example" } })).statusCode,
        403,
      );

      for (const host of ["localhost:7071", "127.0.0.1:7071", "hive.desk.example"]) {
        const ok = await app.inject({ method: "GET", url: "/healthz", headers: { host } });
        assert.equal(ok.statusCode, 200, host);
      }
      const kill = await app.inject({
        method: "POST",
        url: "/v1/accounts/paper-001/kill",
        headers: { host: "127.0.0.1:7071", "content-type": "application/json" },
        payload: { reason: "by hand" },
      });
      assert.equal(kill.statusCode, 200);
      assert.deepEqual(control.calls, ["kill"]);
    } finally {
      await app.close();
    }
  });
});
