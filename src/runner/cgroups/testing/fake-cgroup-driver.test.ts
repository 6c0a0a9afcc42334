import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeCgroup, FakeCgroupDriver } from "./fake-cgroup-driver.ts";

describe("FakeCgroupDriver", () => {
  it("records groups, limits, wraps and signals without touching the kernel", async () => {
    const driver = new FakeCgroupDriver("v1");
    const group = await driver.create("d1", { memoryBytes: 2 ** 26, cpus: [1] });
    assert.ok(group instanceof FakeCgroup);
    assert.deepEqual(driver.created, [{ name: "d1", limits: { memoryBytes: 2 ** 26, cpus: [1] } }]);
    assert.deepEqual(driver.wrapCommand(group, "x", ["y"]), { command: "x", args: ["y"] });
    assert.deepEqual(driver.wrapped, [{ group: "d1", command: "x", args: ["y"] }]);
    group.members.add(101).add(102);
    group.currentStats = { memoryBytes: 5, oomKills: 1 };
    assert.deepEqual(await group.stats(), { memoryBytes: 5, oomKills: 1 });
    await assert.rejects(driver.create("d1", {}), /still runs pids/);
    assert.equal(await group.killAll("SIGTERM"), 2);
    assert.deepEqual(await group.pids(), [101, 102]);
    await group.killAll("SIGKILL");
    assert.deepEqual(group.signals, [
      { signal: "SIGTERM", pids: [101, 102] },
      { signal: "SIGKILL", pids: [101, 102] },
    ]);
    await assert.rejects(driver.removeParent(), /still holds groups/);
    await group.destroy();
    assert.equal(group.destroyed, true);
    assert.deepEqual(await driver.list(), []);
    await driver.removeParent();
  });

  it("removes only empty groups as stale, and validates like the real ones", async () => {
    const driver = new FakeCgroupDriver();
    const busy = (await driver.create("busy", {})) as FakeCgroup;
    busy.members.add(7);
    await driver.create("idle", {});
    assert.deepEqual(await driver.removeStale(), ["idle"]);
    assert.equal(await driver.open("idle"), undefined);
    await assert.rejects(driver.create("a/b", {}), /invalid cgroup name/);
    await assert.rejects(driver.create("c", { memoryBytes: 1 }), /memoryBytes/);
  });
});
