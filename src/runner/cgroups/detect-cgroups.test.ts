import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, describe, it } from "node:test";
import { cleanUpTestCgroups, realCgroupsForTest } from "./testing/real-cgroups.ts";
import { detectCgroups } from "./detect-cgroups.ts";
import { FakeCgroupFs } from "./testing/fake-cgroup-fs.ts";

const env = await realCgroupsForTest();
after(() => cleanUpTestCgroups(env));

describe("detectCgroups", () => {
  it(
    "picks the layout this machine has (v1 here: memory/cpu hierarchies, a v2 mount without controllers)",
    { skip: env.skip },
    () => {
      const pureV2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
      const driver = env.driver!;
      assert.equal(driver.kind, pureV2 ? "v2" : "v1");
      assert.match(driver.describe(), pureV2 ? /^cgroup v2: .*cpu.*memory/ : /^cgroup v1: .*cpu.*memory/);
      assert.ok(
        existsSync(pureV2 ? `/sys/fs/cgroup/${env.parent}` : `/sys/fs/cgroup/memory/${env.parent}`),
        "the probe made the parent",
      );
    },
  );

  it("falls back to the none driver, which runs without limits and says so loudly", async () => {
    const driver = await detectCgroups({ root: "/cg", fs: new FakeCgroupFs() });
    assert.equal(driver.kind, "none");
    assert.match(driver.describe(), /^no writable cgroups: processes run WITHOUT limits/);
    assert.match(driver.describe(), /no cgroup v1 memory hierarchy under \/cg/);
    const group = await driver.create("d1", { memoryBytes: 2 ** 26, cpus: [0] });
    assert.deepEqual(group.paths, []);
    assert.match(group.warnings.join(), /WITHOUT memory, CPU or core limits/);
    assert.deepEqual(driver.wrapCommand(group, "/bin/echo", ["hi"]), { command: "/bin/echo", args: ["hi"] });
    assert.deepEqual(await group.pids(), []);
    assert.deepEqual(await group.stats(), { memoryBytes: 0, oomKills: 0 });
    await group.destroy();
    await assert.rejects(driver.create("../x", {}), /invalid cgroup name/);
  });
});
