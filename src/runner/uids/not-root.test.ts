/**
 * A runner that cannot give deployments uids of their own (it is not root; here: told so) says so
 * loudly at start, naming what is not enforced, and runs every deployment as itself.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import { SocketDirection, SocketPattern, SpawnRequestSchema } from "../../protocol/index.ts";
import { NoCgroupDriver } from "../cgroups/index.ts";
import { runnerAtStart } from "../testing/runner-at-start.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

test("without uids the runner warns at start, naming what is not enforced, and runs deployments as itself", async () => {
  const state = dirs.make("hive-nr-");
  const run = dirs.make("hnr-");
  const port = 36_000 + (process.pid % 50) * 10;
  const { runner, stub, lines, close } = await runnerAtStart(
    {
      nodeId: "nr-1",
      pool: "backtest",
      portRange: { first: port, last: port + 9 },
      stateDir: state,
      runDir: run,
      datasets: { dir: join(state, "datasets") },
      stopGraceMs: 500,
    },
    // What createRunner chooses when the runner is not root.
    { uids: undefined, cgroups: new NoCgroupDriver(["not on purpose"]) },
  );
  try {
    await runner.start();
    const warning = lines.find((l) => l.level === 40 && /not root/.test(String(l.msg)));
    assert.ok(warning, "a warn line says deployments are not kept apart");
    assert.deepEqual(warning.notEnforced, [
      "a uid per deployment",
      "ipc directories of their own",
      "runner keys and records out of deployments' reach",
      "read-only datasets",
    ]);
    assert.equal(warning.uid, process.geteuid?.());
    const session = await stub.waitForRunner("nr-1");
    session.send({
      case: "spawnRequest",
      value: create(SpawnRequestSchema, {
        requestId: "r1",
        deploymentId: "dep-own",
        layout: "l",
        service: "s",
        epoch: 1n,
        command: "/bin/sleep",
        args: ["30"],
        sockets: [{ name: "md", pattern: SocketPattern.SUB, direction: SocketDirection.CONSUME }],
      }),
    });
    const answer = await session.next("spawnResponse", (r) => r.deploymentId === "dep-own");
    assert.equal(answer.ok, true, answer.error?.message);
    const uidLine = readFileSync(`/proc/${answer.pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("Uid:"));
    assert.match(uidLine ?? "", new RegExp(`^Uid:\\t${process.geteuid?.()}\\t`), "the runner's own uid");
  } finally {
    await close();
  }
});
