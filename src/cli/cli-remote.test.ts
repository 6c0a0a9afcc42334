import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { ValidationError } from "../domain/index.ts";
import { testApi } from "../orchestrator/http/testing/test-api.ts";
import { FakeControlPlane, fakeNode } from "../orchestrator/testing/fake-control-plane.ts";
import { ApiClient, DEFAULT_ORCHESTRATOR_URL, resolveOrchestratorUrl } from "./api-client.ts";
import { ExitCode } from "./exit-codes.ts";
import { memoryIo } from "./io.ts";
import { main } from "./main.ts";

const LIVE = "test/fixtures/live-gateway-service.yaml";
const tmp = mkdtempSync(join(tmpdir(), "hive-cli-remote-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
// Never the user's own context file: none at all here (each call gives its server and token).
process.env.HIVE_CONFIG = join(tmp, "no-config");
let tokenFiles = 0;

/** The real HTTP API over a fake control plane, on a loopback port. */
async function startApi(control: FakeControlPlane) {
  const api = testApi({ control });
  await api.ready;
  const app = api.app;
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  // The admin's token, in a 0600 file as --token-file wants it.
  const tokenFile = join(tmp, `token-${++tokenFiles}`);
  writeFileSync(tokenFile, `${api.tokens.admin}\n`, { mode: 0o600 });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => app.close(),
    token: api.tokens.admin,
    tokenFile,
    api,
  };
}

function runner(url: () => string, tokenFile?: () => string) {
  return async (...args: string[]) => {
    const io = memoryIo();
    const auth = tokenFile === undefined ? [] : ["--token-file", tokenFile()];
    const code = await main(["node", "hive", ...args, "--orchestrator", url(), ...auth], io);
    return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
  };
}

function newControl() {
  return new FakeControlPlane({
    nodes: [
      fakeNode("live-1", {
        tags: ["live_node"],
        hotDatasets: [{ id: "es-ticks", version: "2024", bytes: 1024 }],
      }),
      fakeNode("data-1", { pool: "backtest", unlimited: true, resourceLimits: "unlimited" }),
    ],
    datasets: [
      { id: "es-ticks", version: "2024", source: "file:///data/es", bytes: 3 * 2 ** 20, hotOn: ["live-1"] },
    ],
  });
}

describe("hive CLI against the orchestrator's HTTP API", () => {
  const control = newControl();
  let api: Awaited<ReturnType<typeof startApi>>;
  const run = runner(
    () => api.url,
    () => api.tokenFile,
  );
  before(async () => {
    api = await startApi(control);
  });
  after(() => api.close());

  test("apply: says what changed, shows each phase change, exits 0 once running", async () => {
    const r = await run("apply", LIVE);
    assert.equal(r.code, ExitCode.Ok, r.err);
    assert.match(r.out, /^applied live-momentum \(generation 1\)\n {2}added +feeder, momentum, gateway\n/);
    assert.match(r.out, /waiting for live-momentum to run \(up to 60 s\)/);
    assert.match(r.out, /live-momentum\.feeder: pending\n/);
    assert.match(r.out, /live-momentum\.feeder: starting on live-1\n/);
    assert.match(r.out, /live-momentum\.momentum-standby-1: running on live-1 \(pid 1001\)/);
    assert.match(r.out, /live-momentum is running: 4 deployments in \d+\.\d s$/);
    const again = await run("apply", LIVE, "--no-wait", "--json");
    assert.equal(again.code, ExitCode.Ok);
    const { apply } = JSON.parse(again.out) as { apply: { generation: number; unchanged: string[] } };
    assert.equal(apply.generation, 2);
    assert.deepEqual(apply.unchanged, ["feeder", "momentum", "gateway"]);
  });

  test("apply of a bad or missing file: exit 2, file:line errors, and no request made", async () => {
    const calls = control.calls.length;
    const bad = await run("apply", "examples/layouts/invalid/memory-lots.yaml");
    assert.equal(bad.code, ExitCode.BadInput);
    assert.match(
      bad.err,
      /^error: .*memory-lots\.yaml:\d+:\d+: services\[0\]\.resources\.memory: found "lots"/,
    );
    const missing = await run("apply", join(tmp, "nope.yaml"));
    assert.equal(missing.code, ExitCode.BadInput);
    assert.match(missing.err, /nope\.yaml: \(document\): found no such file/);
    assert.equal(control.calls.length, calls, "the orchestrator was not asked");
  });

  test("apply inlines services kept in files of their own", async () => {
    writeFileSync(
      join(tmp, "gateway.yaml"),
      "name: gw\nkind: gateway\npool: live\ncommand: node\nresources: { cores: 1, memory: 64MiB }\n",
    );
    writeFileSync(join(tmp, "with-ref.yaml"), "name: with-ref\nservices:\n  - file: gateway.yaml\n");
    const r = await run("apply", join(tmp, "with-ref.yaml"), "--no-wait");
    assert.equal(r.code, ExitCode.Ok, r.err);
    assert.match(r.out, /added +gw/);
    await control.stopLayout("with-ref");
  });

  test("status: every layout with its counts; one layout's deployments; an unknown one is exit 2", async () => {
    const all = await run("status");
    assert.equal(all.code, ExitCode.Ok);
    assert.match(
      all.out,
      /^LAYOUT +STATE +GENERATION +RUNNING +PENDING +DONE +FAILED +APPLIED\nlive-momentum +running +2 +4\/4 +0 +0 +0 /,
    );
    const one = await run("status", "live-momentum");
    assert.match(one.out, /^layout live-momentum: running \(generation 2/);
    assert.match(one.out, /live-momentum\.momentum-standby-1 +momentum +standby 1 +live-1 +running +1001/);
    const json = JSON.parse((await run("status", "--json")).out) as { name: string }[];
    assert.deepEqual(
      json.map((l) => l.name),
      ["live-momentum"],
    );
    const unknown = await run("status", "nope");
    assert.equal(unknown.code, ExitCode.BadInput);
    assert.equal(unknown.err, 'error: no layout "nope"');
  });

  test("nodes: a table with usage, datasets, and a loud marker for a node without limits", async () => {
    const r = await run("nodes");
    assert.equal(r.code, ExitCode.Ok);
    assert.match(
      r.out,
      /^NODE +POOL +HEALTH +DRAINING +CORES +MEMORY +CPU +DEPLOYMENTS +HOT DATASETS +LIMITS/,
    );
    assert.match(
      r.out,
      /live-1 +live +ready +no +0\/8 \(0\/2 pinned\) +0 B\/16 GiB +25% +4 +es-ticks@2024 +cgroup v2/,
    );
    assert.match(r.out, /data-1 +backtest .* !! NO LIMITS !!/);
    assert.match(r.err, /^warning: data-1 runs processes without CPU or memory limits/);
    const json = JSON.parse((await run("nodes", "--json")).out) as { id: string; unlimited: boolean }[];
    assert.deepEqual(
      json.map((n) => [n.id, n.unlimited]),
      [
        ["live-1", false],
        ["data-1", true],
      ],
    );
  });

  test("deployments: filtered by layout and node; unknown names are exit 2", async () => {
    const r = await run("deployments", "--layout", "live-momentum");
    assert.equal(r.code, ExitCode.Ok);
    assert.match(r.out, /^DEPLOYMENT +SERVICE +ROLE +NODE +PHASE +PID +RESTARTS +EPOCH +DETAIL\n/);
    assert.equal(r.out.split("\n").length, 5);
    const onData = await run("deployments", "--node", "data-1", "--json");
    assert.deepEqual(JSON.parse(onData.out), []);
    const badLayout = await run("deployments", "--layout", "nope");
    assert.equal(badLayout.code, ExitCode.BadInput);
    assert.equal(badLayout.err, 'error: no layout "nope"');
    const badNode = await run("deployments", "--node", "nope");
    assert.equal(badNode.code, ExitCode.BadInput);
    assert.equal(badNode.err, 'error: no node "nope" (nodes: live-1, data-1)');
  });

  test("explain --layout <name> asks the live orchestrator", async () => {
    const r = await run("explain", "momentum", "--layout", "live-momentum");
    assert.equal(r.code, ExitCode.Ok);
    assert.match(r.out, /^momentum: active on live-1 \(running\); standby 1 on live-1 \(running\)\n/);
    assert.match(r.out, /\nplaced now, without its own instances in the way, it would go to live-1\n/);
    assert.match(r.out, /data-1 +refused +- +pool mismatch/);
    const unknown = await run("explain", "nope", "--layout", "live-momentum");
    assert.equal(unknown.code, ExitCode.BadInput);
    assert.equal(unknown.err, 'error: layout live-momentum has no service "nope"');
  });

  test("logs: output line by line, stderr, tail, JSON lines; an unknown deployment is exit 2", async () => {
    control.appendLog("live-momentum.feeder", "tick 1\ntick 2\n");
    control.appendLog("live-momentum.feeder", "tick 3 (no newline yet)");
    control.appendLog("live-momentum.feeder", "boom\n", "stderr");
    const r = await run("logs", "live-momentum.feeder");
    assert.equal(r.code, ExitCode.Ok);
    assert.equal(r.out, "tick 1\ntick 2\ntick 3 (no newline yet)");
    assert.equal((await run("logs", "live-momentum.feeder", "--stderr")).out, "boom");
    assert.equal((await run("logs", "live-momentum.feeder", "--tail", "23")).out, "tick 3 (no newline yet)");
    const json = await run("logs", "live-momentum.feeder", "--stderr", "--json");
    assert.deepEqual(JSON.parse(json.out), {
      deployment: "live-momentum.feeder",
      stream: "stderr",
      line: "boom",
    });
    const bad = await run("logs", "live-momentum.feeder", "--tail", "lots");
    assert.equal(bad.code, ExitCode.BadInput);
    assert.match(bad.err, /--tail: found "lots"/);
    const unknown = await run("logs", "nope");
    assert.equal(unknown.code, ExitCode.BadInput);
    assert.equal(unknown.err, 'error: no deployment "nope"');
  });

  test("logs -f follows until Ctrl-C, then exits 0 and the orchestrator stops reading", async () => {
    control.appendLog("live-momentum.gateway", "ready\n");
    const io = memoryIo();
    const done = main(
      [
        "node",
        "hive",
        "logs",
        "-f",
        "live-momentum.gateway",
        "--orchestrator",
        api.url,
        "--token-file",
        api.tokenFile,
      ],
      io,
    );
    await until(() => io.stdout.length === 1);
    control.appendLog("live-momentum.gateway", "order 1\n");
    await until(() => io.stdout.length === 2);
    const aborted = control.nextLogAbort();
    process.emit("SIGINT");
    assert.equal(await done, ExitCode.Ok);
    await aborted;
    assert.deepEqual(io.stdout, ["ready", "order 1"]);
    assert.equal(process.listenerCount("SIGINT"), 0, "the Ctrl-C handler is removed");
  });

  test("drain and drain --undo; an unknown node is exit 2", async () => {
    const r = await run("drain", "live-1");
    assert.equal(r.code, ExitCode.Ok);
    assert.equal(r.out, "live-1 is draining: nothing new goes there; its 4 deployments keep running");
    assert.match((await run("nodes")).out, /live-1 +live +ready +yes/);
    const undo = await run("drain", "live-1", "--undo", "--json");
    assert.equal((JSON.parse(undo.out) as { draining: boolean }).draining, false);
    const unknown = await run("drain", "nope");
    assert.equal(unknown.code, ExitCode.BadInput);
    assert.equal(unknown.err, 'error: no node "nope"');
  });

  test("datasets: the catalogue and where each is hot", async () => {
    const r = await run("datasets");
    assert.equal(r.code, ExitCode.Ok);
    assert.match(
      r.out,
      /^DATASET +VERSION +SIZE +HOT ON +SOURCE\nes-ticks +2024 +3 MiB +live-1 +file:\/\/\/data\/es$/,
    );
  });

  test("the server's errors keep their code; a ValidationError keeps its file:line issues", async () => {
    control.failWith(
      new ValidationError([
        {
          file: "l.yaml",
          line: 3,
          column: 5,
          path: "services[0].pool",
          found: '"x"',
          expected: "live or backtest",
        },
      ]),
    );
    const invalid = await run("status");
    assert.equal(invalid.code, ExitCode.BadInput);
    assert.equal(invalid.err, 'error: l.yaml:3:5: services[0].pool: found "x", expected live or backtest');
    control.failWith(new HiveError(ErrorCode.FailedPrecondition, "no node can take it"));
    const failed = await run("datasets");
    assert.equal(failed.code, ExitCode.Failed);
    assert.equal(failed.err, "error: no node can take it");
    control.failWith(new HiveError(ErrorCode.Unavailable, "the store is down"));
    assert.equal((await run("nodes")).code, ExitCode.Unavailable);
    control.failWith(undefined);
  });

  test("stop: the layout is gone; again is exit 2", async () => {
    const r = await run("stop", "live-momentum");
    assert.equal(r.code, ExitCode.Ok);
    assert.equal(r.out, "stopped live-momentum");
    const again = await run("stop", "live-momentum");
    assert.equal(again.code, ExitCode.BadInput);
    assert.equal((await run("status")).out, "no layouts (apply one with: hive apply <layout.yaml>)");
  });
});

describe("hive apply that does not come up", () => {
  test("after --timeout: exit 1, each pending deployment with the scheduler's reason", async () => {
    const control = newControl();
    control.holdPending("momentum", "2 nodes: missing a required tag");
    const api = await startApi(control);
    try {
      const r = await runner(
        () => api.url,
        () => api.tokenFile,
      )("apply", LIVE, "--timeout", "0.5");
      assert.equal(r.code, ExitCode.Failed);
      assert.match(r.out, /live-momentum\.momentum: pending: 2 nodes: missing a required tag/);
      assert.match(
        r.err,
        /^error: not running after 0\.5 s: layout live-momentum is deploying, 2 of 4 deployments not running\n/,
      );
      assert.match(r.err, /\n {2}live-momentum\.momentum: pending: 2 nodes: missing a required tag\n/);
      assert.match(
        r.err,
        /\n {2}live-momentum\.momentum-standby-1: pending: 2 nodes: missing a required tag\n/,
      );
      assert.match(r.err, /\(see: hive explain momentum --layout live-momentum\)$/);
      const explain = await runner(
        () => api.url,
        () => api.tokenFile,
      )("explain", "momentum", "--layout", "live-momentum");
      assert.equal(explain.code, ExitCode.Failed);
      assert.match(
        explain.out,
        /^momentum: active unplaced \(pending\); standby 1 unplaced \(pending\)\nmomentum waits: no node can take it\n2 nodes: missing a required tag/,
      );
    } finally {
      await api.close();
    }
  });
});

describe("an orchestrator that cannot be reached", () => {
  test("one line, exit 3", async () => {
    const api = await startApi(new FakeControlPlane());
    const url = api.url;
    await api.close();
    for (const args of [["status"], ["nodes", "--json"], ["apply", LIVE], ["logs", "-f", "x"]]) {
      const r = await runner(() => url)(...args);
      assert.equal(r.code, ExitCode.Unavailable, args.join(" "));
      assert.equal(
        r.err,
        `error: cannot reach the orchestrator at ${url} (connection refused): is it running? (hive dev, or hive orchestrator)`,
      );
    }
  });

  test("--orchestrator, HIVE_ORCHESTRATOR, the default; a malformed URL is exit 2", async () => {
    assert.equal(resolveOrchestratorUrl(undefined, {}), DEFAULT_ORCHESTRATOR_URL);
    assert.equal(resolveOrchestratorUrl(undefined, { HIVE_ORCHESTRATOR: "http://h:1/" }), "http://h:1");
    assert.equal(
      resolveOrchestratorUrl("https://o.example:8443", { HIVE_ORCHESTRATOR: "http://h:1" }),
      "https://o.example:8443",
    );
    const io = memoryIo();
    const code = await main(["node", "hive", "status", "--orchestrator", "localhost:7071"], io);
    assert.equal(code, ExitCode.BadInput);
    assert.match(
      io.stderr.join("\n"),
      /^error: --orchestrator: found "localhost:7071", expected an http:\/\/ or https:\/\/ URL/,
    );
  });

  test("the client rebuilds a ValidationError from a 400", async () => {
    const api = await startApi(new FakeControlPlane());
    try {
      const err = await new ApiClient(api.url, { token: api.token })
        .applyLayout("name: x\nservices: []\n", "x.yaml")
        .catch((e: unknown) => e);
      assert.ok(err instanceof ValidationError);
      assert.equal(err.issues[0]?.file, "x.yaml");
      assert.equal(err.issues[0]?.line, 2);
    } finally {
      await api.close();
    }
  });
});

describe("ApiClient.logs", () => {
  test("a consumer that stops early closes the stream, and the orchestrator stops reading", async () => {
    const control = newControl();
    await control.applyLayout(
      "name: d\nservices:\n  - { name: f, kind: feeder, pool: live, command: node, resources: { cores: 1, memory: 1MiB } }\n",
      "d.yaml",
    );
    control.appendLog("d.f", "one\n");
    const api = await startApi(control);
    try {
      const aborted = control.nextLogAbort();
      for await (const chunk of new ApiClient(api.url, { token: api.token }).logs("d.f", {
        stream: "stdout",
        follow: true,
      })) {
        assert.equal(new TextDecoder().decode(chunk), "one\n");
        break;
      }
      await aborted;
      assert.equal(control.logsAborted, 1);
    } finally {
      await api.close();
    }
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), "timed out waiting");
}

describe("hive failover, kill, accounts", () => {
  const control = newControl();
  let api: Awaited<ReturnType<typeof startApi>>;
  const run = runner(
    () => api.url,
    () => api.tokenFile,
  );
  before(async () => {
    api = await startApi(control);
  });
  after(() => api.close());

  test("failover finds the service's layout, promotes the standby and says so", async () => {
    assert.equal((await run("apply", LIVE, "--no-wait")).code, ExitCode.Ok);
    const r = await run("failover", "momentum");
    assert.equal(r.code, ExitCode.Ok, r.err);
    assert.match(r.out, /^live-momentum\/momentum: \S+ → \S+ at epoch \d+; gateway fenced after/);
    const json = await run("failover", "momentum", "--layout", "live-momentum", "--json");
    const view = JSON.parse(json.out) as { from: string; to: string };
    assert.match(r.out, new RegExp(`${view.to} → ${view.from}`), "the second failover goes back");
  });

  test("failover of a service no layout has: one line, not found", async () => {
    const r = await run("failover", "ghost");
    assert.equal(r.code, ExitCode.BadInput, "an unknown name is bad input");
    assert.match(r.err, /no applied layout has a service ghost/);
  });

  test("kill, accounts, lift", async () => {
    const typo = await run("kill", "paper-01");
    assert.equal(typo.code, ExitCode.BadInput, "an account nobody knows is not 'killed'");
    assert.match(typo.err, /no layout trades account "paper-01" and no gateway knows it/);
    const malformed = await run("kill", "bad account");
    assert.equal(malformed.code, ExitCode.BadInput);
    assert.match(malformed.err, /path\.account/);
    const forced = await run("kill", "paper-002", "--force");
    assert.equal(forced.code, ExitCode.Ok, forced.err);
    assert.equal((await run("kill", "paper-002", "--lift")).code, ExitCode.Ok);
    const k = await run("kill", "paper-001", "--reason", "fat finger");
    assert.equal(k.code, ExitCode.Ok, k.err);
    assert.match(k.out, /paper-001: killed at gateway paper; 0 resting order\(s\) cancelled/);
    const a = await run("accounts");
    assert.match(a.out, /paper +paper-001 +- +- +KILLED +flat +0/);
    assert.equal((await run("kill", "paper-001", "--lift")).code, ExitCode.Ok);
    assert.match((await run("accounts", "paper-001")).out, /paper-001 .* trading /);
  });
});
