/**
 * The CLI's side of the API's security, against the real HTTP API on loopback: the context file
 * (HIVE_CONFIG in a temp directory, never the user's), tokens from files of mode 0600 and only to
 * their context's server, `hive token` and `hive audit`, HTTPS verified against the context's CA,
 * and `hive orchestrator` refusing to listen off loopback without TLS or with a readable key.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FakeControlPlane, fakeNode } from "../orchestrator/testing/fake-control-plane.ts";
import { checkHttpListen, isLoopbackHost } from "../orchestrator/http/http-tls.ts";
import { makeTestCerts, type TestCerts } from "../orchestrator/http/testing/test-certs.ts";
import { testApi, type TestApi } from "../orchestrator/http/testing/test-api.ts";
import { loadConfig, saveContext } from "./cli-config.ts";
import { ExitCode } from "./exit-codes.ts";
import { memoryIo } from "./io.ts";
import { main } from "./main.ts";

const tmp = mkdtempSync(join(tmpdir(), "hive-cli-auth-"));
const config = join(tmp, "config");
process.env.HIVE_CONFIG = config;
delete process.env.HIVE_ORCHESTRATOR;
delete process.env.HIVE_TOKEN;
delete process.env.HIVE_CA_FILE;
after(() => rmSync(tmp, { recursive: true, force: true }));

async function hive(...args: string[]) {
  const io = memoryIo();
  const code = await main(["node", "hive", ...args], io);
  return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
}

function secretFile(name: string, text: string, mode = 0o600): string {
  const path = join(tmp, name);
  writeFileSync(path, `${text}\n`, { mode });
  chmodSync(path, mode);
  return path;
}

interface Listening {
  readonly api: TestApi;
  readonly url: string;
  /** The Authorization headers the server received, in order ("" for none). */
  readonly seen: string[];
}

async function listen(tls?: TestCerts): Promise<Listening> {
  const api = testApi({
    control: new FakeControlPlane({ nodes: [fakeNode("live-1")] }),
    ...(tls ? { tls: { cert: tls.serverCert, key: tls.serverKey } } : {}),
  });
  const seen: string[] = [];
  // onResponse: it runs for refused requests too (the guard refuses in onRequest, before later hooks).
  api.app.addHook("onResponse", (request, _reply, done) => {
    seen.push(request.headers.authorization ?? "");
    done();
  });
  await api.ready;
  await api.app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = api.app.server.address() as AddressInfo;
  return { api, url: `${tls ? "https" : "http"}://127.0.0.1:${port}`, seen };
}

describe("the context file", () => {
  let a: Listening;
  let b: Listening;
  before(async () => {
    a = await listen();
    b = await listen();
  });
  after(async () => {
    await a.api.close();
    await b.api.close();
  });

  test("with no context and no token: a 401 that says how to give one", async () => {
    const r = await hive("nodes", "--orchestrator", a.url);
    assert.equal(r.code, ExitCode.Failed);
    assert.match(r.err, /needs a token \(role viewer\)/);
    assert.match(r.err, /this hive sent no token to http:\/\/127\.0\.0\.1:\d+/);
  });

  test("a context as hive dev writes it: hive works with no flag; other contexts and the current one are kept", async () => {
    writeFileSync(
      config,
      [
        "# my contexts",
        "current-context: prod",
        "contexts:",
        "  - name: prod",
        "    server: https://hive.desk.example:7071",
        "",
      ].join("\n"),
    );
    const tokenFile = secretFile("dev.token", a.api.tokens.operator);
    assert.deepEqual(saveContext({ name: "dev", server: a.url, "token-file": tokenFile }), {
      current: false,
    });
    let c = loadConfig(config);
    assert.equal(c.currentContext, "prod", "the user's current context is not clobbered");
    assert.deepEqual(
      c.contexts.map((x) => x.name),
      ["prod", "dev"],
    );
    assert.match(readFileSync(config, "utf8"), /^# my contexts/, "comments are kept");
    assert.equal(statSync(config).mode & 0o777, 0o600);
    const viaFlag = await hive("nodes", "--context", "dev", "--json");
    assert.equal(viaFlag.code, ExitCode.Ok, viaFlag.err);
    assert.equal((JSON.parse(viaFlag.out) as { id: string }[])[0]?.id, "live-1");

    // With no current context, the one written becomes current: `hive status` needs no flag.
    writeFileSync(config, "contexts: []\n");
    assert.deepEqual(saveContext({ name: "dev", server: a.url, "token-file": tokenFile }), { current: true });
    c = loadConfig(config);
    assert.equal(c.currentContext, "dev");
    const plain = await hive("status");
    assert.equal(plain.code, ExitCode.Ok, plain.err);
    assert.equal(plain.out, "no layouts (apply one with: hive apply <layout.yaml>)");
    assert.equal(a.seen.at(-1), `Bearer ${a.api.tokens.operator}`);
    // Writing it again replaces it, once.
    saveContext({ name: "dev", server: a.url, "token-file": tokenFile });
    assert.equal(loadConfig(config).contexts.length, 1);

    const unknown = await hive("status", "--context", "nope");
    assert.equal(unknown.code, ExitCode.BadInput);
    assert.match(unknown.err, /--context nope: no such context in .*config \(it has: dev\)/);
  });

  test("a token file others may read is refused, naming it and its mode", async () => {
    const loose = secretFile("loose.token", a.api.tokens.admin, 0o644);
    writeFileSync(config, "");
    saveContext({ name: "loose", server: a.url, "token-file": loose });
    const r = await hive("nodes", "--context", "loose");
    assert.equal(r.code, ExitCode.Failed);
    assert.equal(
      r.err,
      `error: context loose: token-file ${loose}: mode 0644 lets group or others read it; expected 0600 (chmod 600 ${loose})`,
    );
    const viaFlag = await hive("nodes", "--orchestrator", a.url, "--token-file", loose);
    assert.match(viaFlag.err, /--token-file .*: mode 0644 lets group or others read it/);
    // A token inline in the context file: the file itself must then be 0600.
    writeFileSync(
      config,
      `current-context: inline\ncontexts:\n  - { name: inline, server: "${a.url}", token: ${a.api.tokens.viewer} }\n`,
    );
    chmodSync(config, 0o644);
    assert.match(
      (await hive("nodes")).err,
      /context inline holds its token inline, so its file .*: mode 0644 lets group or others read it/,
    );
    chmodSync(config, 0o600);
    assert.equal((await hive("nodes")).code, ExitCode.Ok);
  });

  test("a context's token goes only to its own server, never to one named by --orchestrator", async () => {
    writeFileSync(config, "");
    saveContext({ name: "dev", server: a.url, "token-file": secretFile("a.token", a.api.tokens.admin) });
    const before = b.seen.length;
    const r = await hive("nodes", "--orchestrator", b.url);
    assert.equal(r.code, ExitCode.Failed);
    assert.deepEqual(b.seen.slice(before), [""], "the other server saw no token");
    // Named explicitly, a token goes where it is told.
    const own = await hive(
      "nodes",
      "--orchestrator",
      b.url,
      "--token-file",
      secretFile("b.token", b.api.tokens.viewer),
    );
    assert.equal(own.code, ExitCode.Ok, own.err);
  });

  test("hive token create, list, revoke and hive audit, as the admin of a context", async () => {
    writeFileSync(config, "");
    saveContext({ name: "dev", server: a.url, "token-file": secretFile("admin.token", a.api.tokens.admin) });
    const out = join(tmp, "ci.token");
    const made = await hive(
      "token",
      "create",
      "--name",
      "ci",
      "--role",
      "operator",
      "--expires",
      "30d",
      "--out",
      out,
    );
    assert.equal(made.code, ExitCode.Ok, made.err);
    assert.equal(made.out, "", "nothing secret on the terminal with --out");
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const ci = readFileSync(out, "utf8").trim();
    assert.match(ci, /^hive_[0-9a-f]{16}_/);
    const shown = await hive("token", "create", "--name", "desk", "--role", "trader");
    assert.match(shown.out, /^hive_[0-9a-f]{16}_\S{43}$/);
    assert.match(shown.err, /made token [0-9a-f]{16} \(desk, role trader\); it is shown once/);
    const list = await hive("token", "list");
    assert.match(list.out, /ci +operator +active +\S+ +20\d\d-/);
    assert.ok(!list.out.includes(ci.split("_")[2]!), "no secret listed");
    const asCi = await hive("drain", "live-1", "--orchestrator", a.url, "--token-file", out);
    assert.equal(asCi.code, ExitCode.Ok, asCi.err);
    assert.equal((await hive("token", "revoke", "ci")).out.startsWith("revoked token"), true);
    const refused = await hive("drain", "live-1", "--orchestrator", a.url, "--token-file", out);
    assert.equal(refused.code, ExitCode.Failed);
    assert.match(refused.err, /\(ci\) is revoked/);
    const badRole = await hive("token", "create", "--name", "x", "--role", "root");
    assert.equal(badRole.code, ExitCode.BadInput);

    const audit = await hive("audit", "--limit", "3");
    assert.equal(audit.code, ExitCode.Ok, audit.err);
    const lines = audit.out.split("\n");
    assert.match(lines[1] ?? "", /POST \/v1\/nodes\/:id\/drain +id=live-1 draining=true +200$/);
    assert.match(lines[2] ?? "", /DELETE \/v1\/tokens\/:token +token=ci +200$/);
    assert.match(lines[3] ?? "", /\(no valid token\)|test-admin/);
    assert.match(lines.at(-1) ?? "", /^\(next: hive audit --after \d+\)$/);
    const json = JSON.parse((await hive("audit", "--since", "1h", "--json")).out) as { entries: unknown[] };
    assert.ok(json.entries.length >= 5);
    const viewer = await hive(
      "audit",
      "--orchestrator",
      a.url,
      "--token-file",
      secretFile("v.token", a.api.tokens.viewer),
    );
    assert.equal(viewer.code, ExitCode.Failed);
    assert.match(viewer.err, /needs role admin/);
  });
});

describe("HTTPS", () => {
  let certs: TestCerts;
  let s: Listening;
  before(async () => {
    certs = await makeTestCerts();
    s = await listen(certs);
  });
  after(() => s.api.close());

  test("the CLI verifies the orchestrator against the context's CA, and only that", async () => {
    const caFile = join(tmp, "ca.pem");
    writeFileSync(caFile, certs.caCert);
    const token = secretFile("tls.token", s.api.tokens.viewer);
    writeFileSync(config, "");
    saveContext({ name: "tls", server: s.url, "ca-file": caFile, "token-file": token });
    const ok = await hive("nodes", "--json");
    assert.equal(ok.code, ExitCode.Ok, ok.err);
    assert.equal(s.seen.at(-1), `Bearer ${s.api.tokens.viewer}`);

    // No CA: the system's roots do not know this one; the token is never sent.
    const seen = s.seen.length;
    writeFileSync(config, "");
    saveContext({ name: "tls", server: s.url, "token-file": token });
    const untrusted = await hive("nodes");
    assert.equal(untrusted.code, ExitCode.Failed);
    assert.match(untrusted.err, /presented a certificate this hive does not trust \(\w+\): give the CA/);
    const other = join(tmp, "other-ca.pem");
    writeFileSync(other, (await makeTestCerts("Another CA")).caCert);
    const wrong = await hive("nodes", "--ca-file", other);
    assert.match(wrong.err, /does not trust/);
    assert.equal(s.seen.length, seen, "no request reached the server without a trusted certificate");
  });
});

describe("hive orchestrator: TLS off loopback", () => {
  test("loopback addresses", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
      assert.ok(isLoopbackHost(h), h);
    for (const h of ["0.0.0.0", "::", "10.0.0.5", "hive.desk.example", "128.0.0.1"])
      assert.ok(!isLoopbackHost(h), h);
    assert.doesNotThrow(() => checkHttpListen({ host: "0.0.0.0", port: 1 }, true));
  });

  test("refuses a non-loopback HTTP listener without TLS, and a TLS key others may read, before it starts", async () => {
    const store = `sqlite:${join(tmp, "never.db")}`;
    const plain = await hive(
      "orchestrator",
      "--store",
      store,
      "--http-listen",
      "0.0.0.0:0",
      "--runner-listen",
      "127.0.0.1:0",
    );
    assert.equal(plain.code, ExitCode.BadInput);
    assert.match(
      plain.err,
      /--http-listen 0\.0\.0\.0:0 is not a loopback address.*give --http-tls-cert and --http-tls-key/,
    );
    const certs = await makeTestCerts();
    const cert = join(tmp, "server.pem");
    writeFileSync(cert, certs.serverCert);
    const key = secretFile("server.key", certs.serverKey, 0o640);
    const loose = await hive(
      "orchestrator",
      "--store",
      store,
      "--http-listen",
      "0.0.0.0:0",
      "--http-tls-cert",
      cert,
      "--http-tls-key",
      key,
    );
    assert.equal(loose.code, ExitCode.Failed);
    assert.match(
      loose.err,
      new RegExp(`--http-tls-key ${key}: mode 0640 lets group or others read it; expected 0600`),
    );
    const half = await hive("orchestrator", "--store", store, "--http-tls-cert", cert);
    assert.match(half.err, /--http-tls-cert was given without --http-tls-key/);
    assert.throws(() => statSync(join(tmp, "never.db")), /ENOENT/, "nothing was started");
  });
});
