import assert from "node:assert/strict";
import { isIP } from "node:net";
import { describe, test } from "node:test";
import fc from "fast-check";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { compileAllowedHosts, hostAllowed, hostNameOf } from "./host-check.ts";
import { testApi } from "./testing/test-api.ts";

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

  test("on any Host header: never throws, answers only localhost, IP addresses and the listed names", () => {
    const allowed = compileAllowedHosts(["hive.desk.example"]);
    const port = fc.option(
      fc.integer({ min: 0, max: 65_535 }).map((n) => `:${n}`),
      { nil: "" },
    );
    // Any text: an answer, never a throw; case and a port never change it.
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (header) => {
        const ok = hostAllowed(header, allowed);
        assert.equal(hostAllowed(header.toUpperCase(), allowed), ok, header);
        if (!header.includes(":") && !header.includes("[") && header.trim() !== "")
          assert.equal(hostAllowed(`${header}:7071`, allowed), ok, header);
      }),
      { numRuns: 3_000 },
    );
    // Any name of labels is refused unless it is one of the list, with or without a port.
    const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), port, (labels, p) => {
        const name = labels.join(".");
        const expected = name === "localhost" || name === "hive.desk.example" || isIP(name) !== 0;
        assert.equal(hostAllowed(`${name}${p}`, allowed), expected, `${name}${p}`);
      }),
    );
    // Any IPv4 or IPv6 address is answered, with or without a port.
    fc.assert(fc.property(fc.ipV4(), port, (ip, p) => assert.ok(hostAllowed(`${ip}${p}`, allowed))));
    fc.assert(fc.property(fc.ipV6(), port, (ip, p) => assert.ok(hostAllowed(`[${ip}]${p}`, allowed))));
  });

  test("the API refuses a request for a foreign name with 403 permission_denied, before any route runs, even with a token", async () => {
    const control = new FakeControlPlane();
    const app = testApi({ control, allowedHosts: ["hive.desk.example"] });
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
