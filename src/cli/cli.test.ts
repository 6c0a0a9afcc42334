import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ExitCode } from "./exit-codes.ts";
import { memoryIo } from "./io.ts";
import { main } from "./main.ts";

const LIVE = "examples/layouts/live-trading.yaml";
const BACKTEST = "examples/layouts/backtest-simulation.yaml";
const tmp = mkdtempSync(join(tmpdir(), "hive-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(...args: string[]) {
  const io = memoryIo();
  const code = await main(["node", "hive", ...args], io);
  return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
}

describe("hive CLI", () => {
  test("validate: good files exit 0, a bad one exits 2 naming file, line and field", async () => {
    const good = await run("validate", LIVE, BACKTEST);
    assert.equal(good.code, ExitCode.Ok);
    assert.match(
      good.out,
      /ok +examples\/layouts\/live-trading.yaml \(2 services, 1 wire, trades through paper\)/,
    );
    const bad = await run("validate", LIVE, "examples/layouts/invalid/memory-lots.yaml");
    assert.equal(bad.code, ExitCode.BadInput);
    assert.match(
      bad.err,
      /memory-lots\.yaml:\d+:\d+: services\[0\]\.resources\.memory: found "lots", expected a size/,
    );
  });

  test("validate --json", async () => {
    const r = await run("validate", "--json", LIVE);
    assert.deepEqual(JSON.parse(r.out), [
      { file: LIVE, ok: true, services: 2, wires: 1, gateways: ["paper"] },
    ]);
  });

  test("plan: every instance of the live layout, the standby on another node than its active", async () => {
    const r = await run("plan", LIVE, "--json");
    assert.equal(r.code, ExitCode.Ok);
    const plan = JSON.parse(r.out) as { placements: { service: string; role: string; nodeId: string }[] };
    assert.equal(plan.placements.length, 3, "the feeder, the active and its standby");
    const momentum = plan.placements.filter((p) => p.service === "momentum");
    assert.equal(momentum.length, 2);
    assert.notEqual(momentum[0]?.nodeId, momentum[1]?.nodeId);
    assert.ok(plan.placements.every((p) => p.nodeId.startsWith("dev-live-")));
  });

  test("plan: an unplaceable layout exits 1 and says why; nothing placed", async () => {
    const cluster = join(tmp, "tiny.yaml");
    writeFileSync(
      cluster,
      [
        "nodes:",
        "  - id: only-data",
        "    pool: backtest",
        "    tags: [data_node]",
        "    capacity: { cores: 2, memory: 4GiB }",
        "    portRange: { first: 30000, last: 30010 }",
      ].join("\n"),
    );
    const r = await run("plan", LIVE, "--cluster", cluster);
    assert.equal(r.code, ExitCode.Failed);
    assert.match(r.err, /cannot place layout live-momentum: momentum: 1 node: pool mismatch/);
  });

  test("explain: names a reason per node; an unknown service is a usage error", async () => {
    const r = await run("explain", "sweep-fast", "--layout", BACKTEST);
    assert.equal(r.code, ExitCode.Ok);
    assert.match(r.out, /sweep-fast: placed on dev-data-1/);
    assert.match(r.out, /dev-live-1 +refused +- +node is in the live pool/);
    const unknown = await run("explain", "nope", "--layout", BACKTEST);
    assert.equal(unknown.code, ExitCode.BadInput);
    assert.match(unknown.err, /no service "nope" in .*; it has: sweep-fast, sweep-medium, sweep-slow/);
  });

  test("dev-preview: places both example layouts and prints the routes, saying it started nothing", async () => {
    const r = await run("dev-preview");
    assert.equal(r.code, ExitCode.Ok);
    assert.match(
      r.out,
      /live-momentum\.momentum\.market_data +ipc:\/\/\/run\/hive\/strategies\/.*tcp:\/\/127\.0\.0\.1:210/,
    );
    assert.match(r.out, /Preview only: no process was started/);
  });

  test("a missing file and a bad flag are one line each, exit 2, no stack", async () => {
    const missing = await run("plan", join(tmp, "nope.yaml"));
    assert.equal(missing.code, ExitCode.BadInput);
    assert.match(missing.err, /nope\.yaml: .*no such file/);
    assert.doesNotMatch(missing.err, /at .*\.ts:\d+/);
    const seed = await run("plan", LIVE, "--seed", "x");
    assert.equal(seed.code, ExitCode.BadInput);
    assert.match(seed.err, /--seed: found "x"/);
    // Checked before anything starts: a mistyped timing would turn node failure detection off.
    const timing = await run("orchestrator", "--store", "memory:", "--down-after-ms", "2s");
    assert.equal(timing.code, ExitCode.BadInput);
    assert.match(timing.err, /--down-after-ms: found "2s", expected a whole number of milliseconds > 0/);
    const timeout = await run("dev", "--timeout", "abc");
    assert.equal(timeout.code, ExitCode.BadInput);
    assert.match(timeout.err, /--timeout: found "abc"/);
  });

  test("an orchestrator whose HTTP port is taken says so and exits, its runner port freed", async () => {
    const squatter = createServer();
    await new Promise<void>((done) => squatter.listen(0, "127.0.0.1", done));
    const taken = (squatter.address() as AddressInfo).port;
    const probe = createServer();
    await new Promise<void>((done) => probe.listen(0, "127.0.0.1", done));
    const runnerPort = (probe.address() as AddressInfo).port;
    await new Promise((done) => probe.close(done));
    try {
      const r = await run(
        "orchestrator",
        "--store",
        "memory:",
        "--runner-listen",
        `127.0.0.1:${runnerPort}`,
        "--http-listen",
        `127.0.0.1:${taken}`,
        "--curve-key-file",
        join(tmp, "orchestrator.key"),
      );
      assert.equal(r.code, ExitCode.Failed, r.err);
      assert.match(r.err, new RegExp(`--http-listen 127\\.0\\.0\\.1:${taken} is in use`));
      const again = createServer();
      await new Promise<void>((done, fail) => {
        again.once("error", fail);
        again.listen(runnerPort, "127.0.0.1", done);
      });
      await new Promise((done) => again.close(done));
    } finally {
      await new Promise((done) => squatter.close(done));
    }
  });

  test("the installed bin runs the same program", () => {
    const out = execFileSync(process.execPath, ["bin/hive.cjs", "validate", LIVE], { encoding: "utf8" });
    assert.match(out, /^ok /);
    const bad = spawnSync(process.execPath, ["bin/hive.cjs", "no-such-command"], { encoding: "utf8" });
    assert.equal(bad.status, ExitCode.BadInput);
    assert.match(bad.stderr, /unknown command 'no-such-command'/);
  });
});

describe("the CLI's terminal", () => {
  test("a reader that goes away ends the output quietly, exit 0 (hive logs -f | head)", async () => {
    const writer = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        'const { processIo } = await import("./src/cli/io.ts"); const io = processIo();' +
          'for (let i = 0; i < 200; i++) { io.out("x".repeat(10_000)); await new Promise((r) => setTimeout(r, 5)); }',
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    writer.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    await once(writer.stdout, "data");
    writer.stdout.destroy(); // the reader is gone, as `head` is after its lines
    const [code] = (await once(writer, "exit")) as [number | null];
    assert.equal(stderr, "");
    assert.equal(code, 0);
  });

  test("a daemon whose stdout or stderr reader goes away goes on (a runner must not exit and self-fence over it)", async () => {
    const writer = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        'const { processIo, runAsDaemon } = await import("./src/cli/io.ts"); const io = processIo(); runAsDaemon();' +
          'for (let i = 0; i < 200; i++) { io.out("x".repeat(10_000)); await new Promise((r) => setTimeout(r, 5)); }' +
          'process.stderr.write("still running\\n");' +
          // Then stderr's reader goes too: error lines meet a closed pipe, and the daemon goes on.
          "await new Promise((r) => setTimeout(r, 300));" +
          'for (let i = 0; i < 200; i++) { io.err("y".repeat(10_000)); await new Promise((r) => setTimeout(r, 5)); }' +
          "process.exitCode = 3;",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    writer.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes("still running\n")) writer.stderr.destroy();
    });
    await once(writer.stdout, "data");
    writer.stdout.destroy();
    const [code] = (await once(writer, "exit")) as [number | null];
    assert.match(stderr, /^still running\n/);
    assert.equal(code, 3, "the daemon ended on its own, not on EPIPE");
  });
});
