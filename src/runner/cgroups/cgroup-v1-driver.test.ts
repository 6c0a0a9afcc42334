// The v1 driver against the real kernel (when it has v1 hierarchies), plus the co-mounted
// layout most v1 hosts have ("cpu" → "cpu,cpuacct") on an in-memory tree.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { HiveError } from "../../core/hive-error.ts";
import { cleanUpTestCgroups, realCgroupsForTest } from "./testing/real-cgroups.ts";
import { createCgroupV1Driver } from "./cgroup-v1-driver.ts";
import { FakeCgroupFs } from "./testing/fake-cgroup-fs.ts";

const ROOT = "/sys/fs/cgroup";
const env = await realCgroupsForTest(ROOT);
const v1 = env.driver?.kind === "v1" ? env.driver : undefined;
const skip =
  env.skip ||
  (v1 ? false : `this machine uses cgroup ${env.driver?.kind} (the v1 driver is tested on it elsewhere)`);
after(() => cleanUpTestCgroups(env, ROOT));

/** A control file of a group in one hierarchy. */
const control = (hierarchy: string, name: string, file: string) =>
  readFile(join(ROOT, hierarchy, env.parent, name, file), "utf8").then((s) => s.trim());

describe("cgroup v1 driver (real kernel)", { skip }, () => {
  it("writes memory (with memsw), CPU quota, cpuset and pids limits", async () => {
    const driver = v1!;
    const group = await driver.create("limits", {
      memoryBytes: 64 * 2 ** 20,
      cpuQuotaCores: 0.5,
      cpus: [1],
      pidsMax: 16,
    });
    try {
      assert.equal(await control("memory", "limits", "memory.limit_in_bytes"), String(64 * 2 ** 20));
      assert.equal(await control("memory", "limits", "memory.memsw.limit_in_bytes"), String(64 * 2 ** 20));
      assert.equal(await control("cpu", "limits", "cpu.cfs_quota_us"), "50000");
      assert.equal(await control("cpu", "limits", "cpu.cfs_period_us"), "100000");
      assert.equal(await control("cpuset", "limits", "cpuset.cpus"), "1");
      assert.equal(
        await control("cpuset", "limits", "cpuset.mems"),
        await control("cpuset", "", "cpuset.mems"),
      );
      assert.equal(await control("pids", "limits", "pids.max"), "16");
      // Our parent is deliberately not exclusive, so the kernel refuses cpu_exclusive: a warning.
      assert.match(group.warnings.join(), /cores 1 pinned but not exclusive/);
      assert.deepEqual((await driver.open("limits"))?.limits, { memoryBytes: 64 * 2 ** 20 });
    } finally {
      await group.destroy();
    }
  });

  it("runs a wrapped command inside the group in every hierarchy, pinned, and kills it with killAll", async () => {
    const driver = v1!;
    const group = await driver.create("live", { cpus: [1], memoryBytes: 32 * 2 ** 20 });
    const wrapped = driver.wrapCommand(group, "sleep", ["30"]);
    const child = spawn(wrapped.command, wrapped.args, { stdio: "ignore" });
    const exited = once(child, "exit");
    try {
      const pid = child.pid!;
      await waitFor(() => group.holds(pid)); // in every hierarchy: the wrapper has done its writes
      const cgroups = await readFile(`/proc/${pid}/cgroup`, "utf8");
      for (const h of ["memory", "cpuset", "cpu", "pids"]) {
        assert.match(cgroups, new RegExp(`:${h}:/${env.parent}/live\\n`), `in the ${h} hierarchy`);
      }
      await waitFor(async () => (await readFile(`/proc/${pid}/cmdline`, "utf8")).startsWith("sleep"));
      assert.match(await readFile(`/proc/${pid}/status`, "utf8"), /Cpus_allowed_list:\s+1\n/);
      const stats = await group.stats();
      assert.ok(
        stats.memoryBytes > 0 && stats.oomKills === 0 && stats.cpuUsageNanos !== undefined,
        JSON.stringify(stats),
      );
      assert.equal(await group.killAll("SIGKILL"), 1);
      assert.deepEqual(await exited, [null, "SIGKILL"]);
    } finally {
      child.kill("SIGKILL");
      await group.destroy();
    }
    await group.destroy(); // idempotent
    assert.deepEqual(await driver.list(), []);
  });

  it("refuses a group that still runs something, replaces an empty leftover, removes stale ones", async () => {
    const driver = v1!;
    const busy = await driver.create("busy", {});
    const wrapped = driver.wrapCommand(busy, "sleep", ["30"]);
    const child = spawn(wrapped.command, wrapped.args, { stdio: "ignore" });
    const exited = once(child, "exit");
    try {
      await waitFor(async () => (await busy.pids()).length === 1);
      await assert.rejects(
        driver.create("busy", {}),
        (e: unknown) => e instanceof HiveError && e.code === "already_exists",
      );
      await driver.create("stale", { memoryBytes: 2 ** 25 });
      const again = await driver.create("stale", {});
      assert.equal(
        (await control("memory", "stale", "memory.limit_in_bytes").then(Number)) > 2 ** 60,
        true,
        "fresh limits",
      );
      assert.deepEqual(again.warnings, []);
      assert.deepEqual(await driver.removeStale(), ["stale"]);
      assert.deepEqual(await driver.list(), ["busy"]);
    } finally {
      await busy.destroy(); // kills the sleep
    }
    assert.deepEqual(await driver.list(), []);
    assert.deepEqual(await exited, [null, "SIGKILL"], "destroy killed what was left in the group");
  });

  it("refuses cores the machine does not have, leaving nothing behind", async () => {
    const driver = v1!;
    await assert.rejects(driver.create("toomany", { cpus: [4095] }), /cannot pin to cores 4095/);
    assert.deepEqual(await driver.list(), []);
  });
});

describe("cgroup v1 driver (in-memory tree)", () => {
  /** A v1 host where cpu and cpuacct share one hierarchy behind links, without pids. */
  function comounted(): FakeCgroupFs {
    const fs = new FakeCgroupFs((dir, f) => {
      for (const file of ["cgroup.procs", "cpuset.cpus", "cpuset.mems"]) f.setFile(`${dir}/${file}`, "");
    });
    for (const h of ["memory", "cpu,cpuacct", "cpuset"]) fs.setFile(`/cg/${h}/cgroup.procs`, "");
    fs.addLink("/cg/cpu", "/cg/cpu,cpuacct");
    fs.addLink("/cg/cpuacct", "/cg/cpu,cpuacct");
    fs.setFile("/cg/cpuset/cpuset.cpus", "0-7");
    fs.setFile("/cg/cpuset/cpuset.mems", "0-1");
    return fs;
  }

  it("makes one directory per mounted hierarchy, not per controller name", async () => {
    const fs = comounted();
    const driver = await createCgroupV1Driver({ root: "/cg", parent: "hive", fs });
    assert.equal(driver.describe(), 'cgroup v1: cpu, cpuacct, cpuset, memory (groups under "hive")');
    assert.equal(fs.file("/cg/cpuset/hive/cpuset.cpus"), "0-7", "the parent cpuset inherits cpus");
    assert.equal(fs.file("/cg/cpuset/hive/cpuset.mems"), "0-1", "and mems");
    const group = await driver.create("g", { cpuQuotaCores: 1.5 });
    assert.deepEqual(group.paths, ["/cg/memory/hive/g", "/cg/cpu,cpuacct/hive/g", "/cg/cpuset/hive/g"]);
    assert.equal(fs.file("/cg/cpu,cpuacct/hive/g/cpu.cfs_quota_us"), "150000");
    assert.equal(fs.file("/cg/cpuset/hive/g/cpuset.cpus"), "0-7", "unpinned: all of the parent's cores");
    await assert.rejects(driver.create("p", { pidsMax: 5 }), /no cgroup v1 pids hierarchy is mounted/);
    assert.deepEqual(await driver.list(), ["g"], "a failed create leaves nothing");
  });

  it("refuses a root without a writable memory hierarchy", async () => {
    const fs = new FakeCgroupFs();
    fs.setFile("/cg/cpu/cgroup.procs", "");
    await assert.rejects(
      createCgroupV1Driver({ root: "/cg", fs }),
      /no cgroup v1 memory hierarchy under \/cg/,
    );
  });
});

/** Polls `check` every 5 ms for up to 2 s. */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail("condition not met within 2 s");
}
