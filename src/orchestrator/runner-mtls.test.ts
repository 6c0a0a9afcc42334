/**
 * The runner link over mutual TLS, for real: an orchestrator (startOrchestrator, in-memory store)
 * serving with its certificate from a cluster CA made on disk, and runners (FakeRunner, or a raw
 * grpc-js stream where a runner would not even try) on loopback. Who a runner is comes from its
 * certificate; a second runner claiming a live node is refused and the first one is undisturbed;
 * a join token is exchanged once for a certificate.
 */
import assert from "node:assert/strict";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import type { HiveError } from "../core/hive-error.ts";
import { ErrorCode } from "../core/hive-error.ts";
import { silentLogger } from "../core/logger.ts";
import { tempDirs } from "../core/testing/temp-dirs.ts";
import { until } from "../core/testing/until.ts";
import {
  Pool,
  PROTOCOL_VERSION,
  RunnerMessageSchema,
  RunnerService,
  type OrchestratorMessage,
} from "../protocol/index.ts";
import { grpcMethodOf } from "../protocol/grpc-method.ts";
import { bootstrapNodeCertificate } from "../runner/link/node-bootstrap.ts";
import { FakeRunner } from "../runner/testing/fake-runner.ts";
import {
  caPaths,
  initClusterCa,
  issueNodePem,
  issueServerPem,
  JoinTokens,
  loadClusterCa,
  readTlsFiles,
  writeIssued,
  type ClusterCa,
  type IssuedPem,
  type TlsMaterial,
} from "../security/pki/index.ts";
import { compileOrchestratorOptions } from "./orchestrator-options.ts";
import { startOrchestrator, type RunningOrchestrator } from "./orchestrator-server.ts";
import { serveRunnerStreams } from "./runner-grpc-server.ts";

const dirs = tempDirs();
const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  dirs.removeAll();
});

let caDir = "";
let ca: ClusterCa;
let foreign: ClusterCa;
let orch: RunningOrchestrator;
const logLines: { msg: string; nodeId?: string; reason?: string }[] = [];

const material = (node: IssuedPem): TlsMaterial => ({ ca: ca.certPem, cert: node.certPem, key: node.keyPem });
/** grpc-js client credentials trusting `trusted` (a CA certificate) and presenting `client`'s certificate and key. */
const sslAs = (trusted: string, client: IssuedPem): grpc.ChannelCredentials =>
  grpc.credentials.createSsl(Buffer.from(trusted), Buffer.from(client.keyPem), Buffer.from(client.certPem));

before(async () => {
  caDir = dirs.make("hive-mtls-ca-");
  await initClusterCa(caDir);
  ca = await loadClusterCa(caDir);
  const other = dirs.make("hive-mtls-foreign-");
  await initClusterCa(other);
  foreign = await loadClusterCa(other);
  const server = writeIssued(
    join(caDir, "orchestrator"),
    await issueServerPem(ca, ["localhost", "127.0.0.1"]),
  );
  const log = pino(
    { level: "info" },
    { write: (line: string) => void logLines.push(JSON.parse(line) as (typeof logLines)[number]) },
  );
  orch = await startOrchestrator(
    compileOrchestratorOptions({
      store: "memory:",
      runnerListen: { host: "127.0.0.1", port: 0 },
      tls: { ca: caPaths(caDir).cert, cert: server.cert, key: server.key },
      caDir,
      heartbeatIntervalMs: 50,
      runnerLeaseMs: 200,
      downAfterMs: 600,
    }),
    { log },
  );
  cleanups.push(() => orch.close());
});

function runner(nodeId: string, tls: TlsMaterial, ports = 45000): FakeRunner {
  const r = new FakeRunner({
    nodeId,
    pool: "live",
    tags: ["live_node", `at_${ports}`],
    urls: [orch.runnerUrl],
    tls,
    portRange: { first: ports, last: ports + 99 },
    curvePublicKey: `key-of-${nodeId}-${ports}`.padEnd(40, "x"),
  });
  cleanups.push(() => r.close());
  r.start();
  return r;
}

/**
 * Opens a runner stream with raw grpc-js credentials (a runner with no certificate at all, which
 * FakeRunner's link would refuse to build), sends a Register for `nodeId` and returns the first
 * answer (or the call's error).
 */
async function rawRegister(nodeId: string, creds: grpc.ChannelCredentials): Promise<string> {
  const client = new grpc.Client(new URL(orch.runnerUrl).host, creds);
  try {
    const connect = grpcMethodOf(RunnerService.method.connect);
    const call = client.makeBidiStreamRequest(
      connect.path,
      connect.requestSerialize,
      connect.responseDeserialize,
    );
    call.write(
      create(RunnerMessageSchema, {
        message: { case: "register", value: { protocolVersion: PROTOCOL_VERSION, nodeId, pool: Pool.LIVE } },
      }),
    );
    const first = await new Promise<OrchestratorMessage | Error>((done) => {
      call.once("data", done);
      call.once("error", done);
    });
    call.cancel();
    if (first instanceof Error) return `error: ${first.message}`;
    const ack = first.message.case === "registerAck" ? first.message.value : undefined;
    return ack?.accepted ? "accepted" : `refused: ${ack?.reason}`;
  } finally {
    client.close();
  }
}

describe("the runner link over mutual TLS", () => {
  test("the orchestrator serves https:// and a runner with its node certificate registers", async () => {
    assert.match(orch.runnerUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const r = runner("tls-ok", material(await issueNodePem(ca, "tls-ok")), 45000);
    await until("registered", () => (r.state === "registered" ? true : undefined));
    assert.equal(orch.core.registry.get("tls-ok").health, "ready");
  });

  test("no certificate, a certificate of another CA, or another node's certificate: refused and logged", async () => {
    const none = await rawRegister("n-none", grpc.credentials.createSsl(Buffer.from(ca.certPem)));
    assert.match(none, /^refused: no valid client certificate: .*no certificate signed by the cluster CA/);

    const stranger = await issueNodePem(foreign, "n-foreign");
    const other = await rawRegister("n-foreign", sslAs(ca.certPem, stranger));
    assert.match(other, /^refused: no valid client certificate/);

    const b = await issueNodePem(ca, "n-b");
    const wrongId = await rawRegister("n-a", sslAs(ca.certPem, b));
    assert.equal(
      wrongId,
      `refused: the Register names node "n-a", but the client certificate is node "n-b"'s`,
    );
    for (const id of ["n-none", "n-foreign", "n-a"]) {
      assert.equal(orch.core.registry.find(id), undefined, `${id} must not be registered`);
      assert.ok(
        logLines.some((l) => l.msg === "runner registration refused" && l.nodeId === id),
        `the refusal of ${id} is logged`,
      );
    }
    // The runner checks the orchestrator too: one whose CA it does not know is not talked to.
    const distrust = await rawRegister("n-b", sslAs(foreign.certPem, b));
    assert.match(distrust, /^error: /);
  });

  test("a second runner claiming a live node is refused; the first runs on undisturbed and gets every Spawn", async () => {
    const first = runner("live-x", material(await issueNodePem(ca, "live-x")), 45100);
    await until("first registered", () => (first.state === "registered" ? true : undefined));
    const entry = orch.core.registry.get("live-x");
    const session = entry.session;
    const key = entry.register.curvePublicKey;
    await orch.core.applyLayout(
      `name: mtls-live
services:
  - name: strat
    kind: service
    pool: live
    command: /bin/sleep
    args: ["600"]
    tags: { required: [at_45100] }
    resources: { cores: 1, memory: 64MiB }
`,
      "mtls-live.yaml",
    );
    const running = await until("running on live-x", async () =>
      (await orch.core.listDeployments()).find((d) => d.layout === "mtls-live" && d.phase === "running"),
    );
    assert.equal(running.nodeId, "live-x");

    // Its own directories and a fresh key: a certificate for live-x from the CA (a key stolen is
    // another threat), and one for another id presenting live-x in its Register.
    const sameId = runner("live-x", material(await issueNodePem(ca, "live-x")), 45200);
    const otherId = await issueNodePem(ca, "live-y");
    const claiming = await rawRegister("live-x", sslAs(ca.certPem, otherId));
    assert.match(claiming, /client certificate is node "live-y"'s/);
    await until("second refused", () => (sameId.state === "refused" ? true : undefined));
    // Long enough for several retries of the second and many heartbeats of the first.
    await new Promise((r) => setTimeout(r, 1_000));
    const now = orch.core.registry.get("live-x");
    assert.equal(now.session, session, "the first session is the node's session still (no flapping)");
    assert.equal(now.register.curvePublicKey, key, "the first runner's CURVE key is the one authorised");
    assert.equal(now.health, "ready");
    assert.equal(first.state, "registered");
    assert.notEqual(sameId.state, "registered");
    assert.equal(sameId.processes.size, 0, "the second never received a Spawn");
    assert.equal(first.processes.size, 1);
    const after = (await orch.core.listDeployments()).find((d) => d.id === running.id);
    assert.equal(after?.phase, "running");
    assert.equal(after?.restarts, 0);
    assert.equal(after?.nodeId, "live-x");
    assert.ok(
      logLines.some(
        (l) =>
          l.msg === "runner registration refused" &&
          l.nodeId === "live-x" &&
          /held by another identity/.test(l.reason ?? ""),
      ),
    );
    await orch.core.stopLayout("mtls-live");
  });

  test("after the node's lease has lapsed and it is down, a new identity may take it over", async () => {
    const old = runner("takeover", material(await issueNodePem(ca, "takeover")), 45300);
    await until("old registered", () => (old.state === "registered" ? true : undefined));
    await old.close();
    const fresh = runner("takeover", material(await issueNodePem(ca, "takeover")), 45400);
    await until("refused while the old one's lease holds", () =>
      fresh.state === "refused" ? true : undefined,
    );
    // downAfterMs is 600 ms; the link retries with backoff (at most 5 s).
    await until("taken over", () => (fresh.state === "registered" ? true : undefined), 15_000);
  });
});

describe("bootstrap with a join token", () => {
  test("a good token yields a node certificate once; reused, expired, wrong and foreign tokens are refused", async () => {
    const dir = dirs.make("hive-mtls-node-");
    const tokens = new JoinTokens(caDir);
    const { token } = tokens.create({ ttlMs: 60_000 });
    const files = { certFile: join(dir, "node.crt"), keyFile: join(dir, "node.key") };
    const boot = (nodeId: string, joinToken: string, f = files) =>
      bootstrapNodeCertificate({
        nodeId,
        urls: [orch.runnerUrl],
        caPem: ca.certPem,
        joinToken,
        ...f,
        log: silentLogger(),
        timeoutMs: 0,
      });
    await boot("boot-1", token);
    assert.equal(statSync(files.keyFile).mode & 0o777, 0o600);
    const tls = readTlsFiles({ ca: caPaths(caDir).cert, cert: files.certFile, key: files.keyFile });
    const r = runner("boot-1", tls, 45500);
    await until("registered with the bootstrapped certificate", () =>
      r.state === "registered" ? true : undefined,
    );

    const other = { certFile: join(dir, "b.crt"), keyFile: join(dir, "b.key") };
    await assert.rejects(boot("boot-2", token, other), (e: HiveError) => {
      assert.equal(e.code, ErrorCode.PermissionDenied);
      assert.match(e.message, /was used already/);
      return true;
    });
    const expired = new JoinTokens(caDir, () => Date.now() - 120_000).create({ ttlMs: 60_000 });
    await assert.rejects(boot("boot-2", expired.token, other), /expired/);
    const good = tokens.create();
    await assert.rejects(boot("boot-2", `${good.id}.${"A".repeat(43)}`, other), /wrong secret/);
    const bound = tokens.create({ node: "boot-3" });
    await assert.rejects(boot("boot-2", bound.token, other), /is for node boot-3, not boot-2/);
    // A live node cannot be claimed with a fresh key, and the token is not spent by trying.
    const forLive = tokens.create();
    await assert.rejects(boot("boot-1", forLive.token, other), /held by another identity/);
    assert.equal(tokens.list().find((t) => t.id === forLive.id)?.state, "valid");
    assert.throws(() => statSync(other.certFile), /ENOENT/);
    // The certificate written is the one the runner now uses; nothing was issued for the refusals.
    assert.match(readFileSync(files.certFile, "utf8"), /BEGIN CERTIFICATE/);
  });

  test("bootstrap goes to an orchestrator it verified: a token is never sent to one of another CA", async () => {
    const { token, id } = new JoinTokens(caDir).create();
    const dir = dirs.make("hive-mtls-node-");
    await assert.rejects(
      bootstrapNodeCertificate({
        nodeId: "boot-x",
        urls: [orch.runnerUrl],
        caPem: foreign.certPem,
        joinToken: token,
        certFile: join(dir, "c"),
        keyFile: join(dir, "k"),
        log: silentLogger(),
        timeoutMs: 0,
      }),
    );
    assert.equal(new JoinTokens(caDir).list().find((t) => t.id === id)?.state, "valid");
  });
});

describe("what the orchestrator refuses to start with", () => {
  test("a runner listener on a non-loopback address without TLS, naming the flag", async () => {
    assert.throws(
      () => compileOrchestratorOptions({ runnerListen: { host: "0.0.0.0", port: 7070 } }),
      /--runner-listen 0\.0\.0\.0:7070: not a loopback address.*--tls-cert/,
    );
    assert.throws(() => compileOrchestratorOptions({ runnerListen: { host: "10.1.2.3", port: 7070 } }));
    compileOrchestratorOptions({ runnerListen: { host: "::1", port: 7070 } });
    const handler = { onRegister: () => ({ accepted: true as const }), onMessage() {}, onClose() {} };
    const opts = { joinToken: "", heartbeatIntervalMs: 100, leaseTtlMs: 300 };
    await assert.rejects(
      serveRunnerStreams(handler, opts, { host: "0.0.0.0", port: 0 }),
      /--runner-listen 0\.0\.0\.0:0: runners may connect in cleartext on a loopback address only/,
    );
  });

  test("a TLS key, a CA key or a join token file others may read, with the path and the mode", async () => {
    const dir = dirs.make("hive-mtls-modes-");
    const server = writeIssued(join(dir, "orchestrator"), await issueServerPem(ca, ["127.0.0.1"]));
    const start = (o: Parameters<typeof compileOrchestratorOptions>[0]) =>
      startOrchestrator(
        compileOrchestratorOptions({ store: "memory:", runnerListen: { host: "127.0.0.1", port: 0 }, ...o }),
        {
          log: silentLogger(),
        },
      );
    const tls = { ca: caPaths(caDir).cert, cert: server.cert, key: server.key };
    chmodSync(server.key, 0o644);
    await assert.rejects(start({ tls }), new RegExp(`private key ${server.key}: mode 0644`));
    chmodSync(server.key, 0o600);

    const loose = dirs.make("hive-mtls-ca-loose-");
    await initClusterCa(loose);
    chmodSync(caPaths(loose).key, 0o640);
    await assert.rejects(start({ tls, caDir: loose }), new RegExp(`CA key ${caPaths(loose).key}: mode 0640`));

    const tokenFile = join(dir, "join.token");
    writeFileSync(tokenFile, "t0ken\n", { mode: 0o604 });
    chmodSync(tokenFile, 0o604);
    await assert.rejects(
      start({ joinTokenFile: tokenFile }),
      new RegExp(`join token file ${tokenFile}: mode 0604`),
    );
  });
});
