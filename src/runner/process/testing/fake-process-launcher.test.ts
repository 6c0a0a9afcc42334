import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeCgroupDriver } from "../../cgroups/testing/fake-cgroup-driver.ts";
import { FakeProcessLauncher, type FakeProcess } from "./fake-process-launcher.ts";
import type { ProcessLauncher } from "../process-launcher.ts";

const spec = { deploymentId: "d1", command: "strategy", env: {}, logDir: "/nowhere" };

describe("FakeProcessLauncher", () => {
  it("hands out running fake processes that tests end as the real ones would end", async () => {
    const fake = new FakeProcessLauncher();
    const launcher: ProcessLauncher = fake;
    const p = await launcher.spawn(spec);
    assert.equal(p.state, "running");
    assert.equal(fake.find("d1"), p);
    (p as FakeProcess).exit(3);
    assert.deepEqual(await p.exited, {
      code: 3,
      signal: null,
      oomKilled: false,
      reason: "exited with code 3",
    });
    assert.equal(p.state, "failed");
  });

  it("stops politely or after the grace, kills, and reports OOM with the limit", async () => {
    const fake = new FakeProcessLauncher();
    const polite = await fake.spawn({ ...spec, deploymentId: "a" });
    assert.equal((await polite.stop()).reason, "exited with code 0 (stop requested)");
    const stubborn = (await fake.spawn({ ...spec, deploymentId: "b", graceMs: 250 })) as FakeProcess;
    stubborn.honoursSigterm = false;
    assert.equal(
      (await stubborn.stop()).reason,
      "killed by SIGKILL (stop requested; still running after 250 ms grace)",
    );
    assert.deepEqual(stubborn.signals, ["SIGTERM", "SIGKILL"]);
    const killed = await fake.spawn({ ...spec, deploymentId: "c" });
    assert.equal((await killed.kill()).reason, "killed by SIGKILL (kill requested)");
    const driver = new FakeCgroupDriver();
    const cgroup = await driver.create("e", { memoryBytes: 64 * 2 ** 20 });
    const hungry = (await fake.spawn({ ...spec, deploymentId: "e", cgroup, driver })) as FakeProcess;
    hungry.oom();
    assert.deepEqual(await hungry.exited, {
      code: null,
      signal: "SIGKILL",
      oomKilled: true,
      reason: "killed by SIGKILL (out of memory: limit 64 MiB)",
    });
    assert.equal(hungry.cgroup, cgroup);
  });

  it("fails to start a missing command and adopts records", async () => {
    const fake = new FakeProcessLauncher();
    fake.missingCommands.add("strategy");
    await assert.rejects(fake.spawn(spec), /cannot start "strategy": ENOENT/);
    const adopted = await fake.adopt({
      version: 1,
      deploymentId: "old",
      pid: 4242,
      startTime: "1",
      bootId: "b",
      startedAt: new Date(0).toISOString(),
      command: "x",
      args: [],
      logDir: "/l",
      logCapBytes: 1,
      graceMs: 1,
    });
    assert.equal(adopted.adopted, true);
    assert.equal(adopted.pid, 4242);
  });
});
