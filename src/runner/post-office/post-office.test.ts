import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { MAX_IPC_PATH_BYTES } from "./ipc-endpoint.ts";
import { PostOffice } from "./post-office.ts";
import { routeFor, tempRunDir } from "./testing/post-office-kit.ts";

const md = { name: "market_data", pattern: "sub", direction: "consume" } as const;
const orders = { name: "orders", pattern: "dealer", direction: "consume" } as const;
const state = { epoch: 1n, ordersOpen: true };

function hiveError(code: ErrorCode, pattern: RegExp) {
  return (err: unknown) => err instanceof HiveError && err.code === code && pattern.test(err.message);
}

describe("post office: lifecycle and checks", () => {
  const runDir = tempRunDir();
  after(() => runDir.remove());

  test("refuses what it cannot bridge, before binding anything", async () => {
    const po = new PostOffice({ runDir: runDir.path });
    try {
      await assert.rejects(
        po.addDeployment("dep-1", [{ name: "work", pattern: "pull", direction: "consume" }], state),
        hiveError(ErrorCode.InvalidArgument, /consumed socket work is pull/),
      );
      await assert.rejects(
        po.addDeployment("dep-1", [md, md], state),
        hiveError(ErrorCode.InvalidArgument, /declared twice/),
      );
      await assert.rejects(
        po.addDeployment("dep-1", [{ ...md, name: "x".repeat(MAX_IPC_PATH_BYTES) }], state),
        hiveError(ErrorCode.InvalidArgument, /over the limit of 107 bytes/),
      );
      await assert.rejects(
        po.addDeployment("../up", [md], state),
        hiveError(ErrorCode.InvalidArgument, /directory/),
      );
      assert.ok(!existsSync(join(runDir.path, "strategies", "dep-1")), "nothing was created");

      await po.addDeployment("dep-1", [md, orders], state);
      await assert.rejects(
        po.addDeployment("dep-1", [md], state),
        hiveError(ErrorCode.AlreadyExists, /dep-1/),
      );
      const upsert = (route: ReturnType<typeof routeFor>) =>
        po.applyRoutes({ upserts: [route], removals: [] });
      await assert.rejects(
        upsert(routeFor(runDir.path, "nobody", "market_data", "sub", [])),
        hiveError(ErrorCode.NotFound, /deployment nobody/),
      );
      await assert.rejects(
        upsert(routeFor(runDir.path, "dep-1", "quotes", "sub", [])),
        hiveError(ErrorCode.NotFound, /no consumed socket quotes/),
      );
      await assert.rejects(
        upsert(routeFor(runDir.path, "dep-1", "market_data", "pull", [])),
        hiveError(ErrorCode.InvalidArgument, /pattern pull, expected sub/),
      );
      await assert.rejects(
        upsert({ ...routeFor(runDir.path, "dep-1", "market_data", "sub", []), local: "ipc:///elsewhere/md" }),
        hiveError(ErrorCode.InvalidArgument, /run directory/),
      );
      // Addresses connect would refuse are refused before anything of the update changes.
      for (const bad of [
        "udp://1.2.3.4:5",
        "tcp://*:6002",
        "tcp://;x:5",
        "tcp://127.0.0.1:70000",
        "tcp://:5",
      ]) {
        await assert.rejects(
          upsert(routeFor(runDir.path, "dep-1", "market_data", "sub", [bad])),
          hiveError(ErrorCode.InvalidArgument, /expected tcp:\/\/ip:port/),
          bad,
        );
      }
      await assert.rejects(
        upsert(
          routeFor(runDir.path, "dep-1", "market_data", "sub", [`ipc:///${"x".repeat(MAX_IPC_PATH_BYTES)}`]),
        ),
        hiveError(ErrorCode.InvalidArgument, /over the limit of 107 bytes/),
      );
      await assert.rejects(
        upsert(
          routeFor(runDir.path, "dep-1", "orders", "dealer", ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]),
        ),
        hiveError(ErrorCode.InvalidArgument, /at most one gateway/),
      );
      assert.throws(() => po.setOrderPath("nobody", true), hiveError(ErrorCode.NotFound, /nobody/));
      // A removal of an unknown deployment is fine: it may be gone already.
      await po.applyRoutes({ upserts: [], removals: [{ deploymentId: "nobody", socket: "market_data" }] });
    } finally {
      await po.close();
    }
    await assert.rejects(
      po.addDeployment("dep-2", [md], state),
      hiveError(ErrorCode.FailedPrecondition, /closed/),
    );
  });

  test("removeDeployment and close leave no socket files and no directory", async () => {
    const po = new PostOffice({ runDir: runDir.path });
    const a = await po.addDeployment("dep-a", [md, orders], state);
    await po.addDeployment("dep-b", [md], state);
    const dir = join(runDir.path, "strategies");
    assert.deepEqual(readdirSync(join(dir, "dep-a")).sort(), ["market_data", "orders"]);
    assert.ok(existsSync((a["orders"] ?? "").slice("ipc://".length)));
    await po.removeDeployment("dep-a");
    await po.removeDeployment("dep-a");
    assert.deepEqual(readdirSync(dir), ["dep-b"]);
    await po.close();
    await po.close();
    assert.ok(!existsSync(dir), "the strategies directory is removed once empty");
    assert.deepEqual(po.counters(), []);
  });

  /** Runs the exit fixture in `mode`; resolves to its exit code (or "timeout") and output. */
  async function runFixture(mode: string[]): Promise<{ code: number | string; out: string; err: string }> {
    const fixture = fileURLToPath(new URL("./testing/post-office-exit-child.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", fixture, ...mode], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve("timeout");
      }, 20_000);
      child.on("exit", (exitCode, signal) => {
        clearTimeout(timer);
        resolve(exitCode ?? signal ?? "unknown");
      });
    });
    return { code, out, err };
  }

  test("leaves no handle behind: a process that used every kind of socket exits on its own", async () => {
    const { code, out, err } = await runFixture([]);
    assert.equal(code, 0, `the fixture exited with ${code}; stdout: ${out}; stderr: ${err}`);
    const [, baseline, left] = /^closed (\S+) (\S+)$/m.exec(out) ?? [];
    assert.equal(left, baseline, "no active Node resource beyond those it started with");
  });

  test("a post office never closed holds no process open once nothing is asked of it", async () => {
    const { code, out, err } = await runFixture(["unclosed"]);
    assert.equal(code, 0, `the fixture exited with ${code}; stdout: ${out}; stderr: ${err}`);
    assert.match(out, /unclosed ready/);
  });
});
