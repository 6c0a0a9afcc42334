/**
 * A process under a uid of the runner's range that is none of its deployments (another runner with
 * an overlapping range, a leftover) is reported at start. Needs root, to start it under that uid.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import { NoCgroupDriver } from "../cgroups/index.ts";
import { runnerAtStart } from "../testing/runner-at-start.ts";
import { rootForTest, uniqueTestUids } from "./testing/root-for-test.ts";
import { uidUsers } from "./uid-users.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

test(
  "a process under a uid of the range that is no deployment of the runner is warned of at start",
  { skip: rootForTest("foreign-uids.test.ts") },
  async () => {
    const range = uniqueTestUids(2);
    const stranger = spawn("/bin/sleep", ["30"], {
      uid: range.first + 1,
      gid: range.first + 1,
      stdio: "ignore",
    });
    await once(stranger, "spawn");
    const run = dirs.make("hfu-");
    const data = dirs.make("hive-fud-");
    for (const d of [run, data]) chmodSync(d, 0o711);
    const port = 36_500 + (process.pid % 50) * 10;
    const { runner, lines, close } = await runnerAtStart(
      {
        nodeId: "fu-1",
        pool: "backtest",
        portRange: { first: port, last: port + 9 },
        deploymentUids: range,
        stateDir: dirs.make("hive-fu-"),
        runDir: run,
        datasets: { dir: join(data, "datasets") },
      },
      { cgroups: new NoCgroupDriver(["not on purpose"]) },
    );
    try {
      assert.deepEqual(uidUsers(range), [{ pid: stranger.pid, uid: range.first + 1 }]);
      await runner.start();
      const warning = lines.find((l) =>
        /none of this runner's deployments run under uids of its range/.test(String(l.msg)),
      );
      assert.ok(warning, "a warn line names them");
      assert.deepEqual(warning.processes, [{ pid: stranger.pid, uid: range.first + 1 }]);
    } finally {
      stranger.kill("SIGKILL");
      if (stranger.exitCode === null && stranger.signalCode === null) await once(stranger, "exit");
      await close();
    }
  },
);
