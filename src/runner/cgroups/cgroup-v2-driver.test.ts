// The v2 driver against an in-memory cgroupfs (this machine's kernel has no usable v2 tree):
// what it writes, in which order, and how it reads the kernel's answers.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HiveError } from "../../core/hive-error.ts";
import { createCgroupV2Driver } from "./cgroup-v2-driver.ts";
import { detectCgroups } from "./detect-cgroups.ts";
import { FakeCgroupFs } from "./testing/fake-cgroup-fs.ts";

const ROOT = "/cg";

/** A pure v2 tree offering memory, cpu, cpuset, pids, io; new groups get the kernel's files. */
function v2Tree(): FakeCgroupFs {
  const fs = new FakeCgroupFs((dir, f) => {
    for (const [file, value] of Object.entries({
      "cgroup.controllers": "cpuset cpu io memory pids",
      "cgroup.subtree_control": "",
      "cgroup.procs": "",
      "cgroup.kill": "",
      "memory.max": "max",
      "memory.swap.max": "max",
      "memory.oom.group": "0",
      "memory.current": "0",
      "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
      "cpu.max": "max 100000",
      "cpuset.cpus": "",
      "cpuset.cpus.effective": "0-3",
      "cpuset.cpus.partition": "member",
      "pids.max": "max",
    })) {
      f.setFile(`${dir}/${file}`, value);
    }
  });
  fs.setFile(`${ROOT}/cgroup.controllers`, "cpuset cpu io memory hugetlb pids");
  fs.setFile(`${ROOT}/cgroup.subtree_control`, "memory");
  fs.setFile(`${ROOT}/cgroup.procs`, "1\n");
  return fs;
}

/** The writes as "file=value" with the root cut off, for short assertions. */
const writes = (fs: FakeCgroupFs, from = 0) =>
  fs.writes.slice(from).map(([path, value]) => `${path.slice(ROOT.length + 1)}=${value}`);

describe("cgroup v2 driver", () => {
  it("enables its controllers down to the parent, skipping ones already on", async () => {
    const fs = v2Tree();
    const driver = await createCgroupV2Driver({ mount: ROOT, parent: "hive", fs });
    assert.deepEqual(writes(fs), [
      "cgroup.subtree_control=+cpu",
      "cgroup.subtree_control=+cpuset",
      "cgroup.subtree_control=+pids",
      "hive/cgroup.subtree_control=+memory",
      "hive/cgroup.subtree_control=+cpu",
      "hive/cgroup.subtree_control=+cpuset",
      "hive/cgroup.subtree_control=+pids",
    ]);
    assert.equal(driver.kind, "v2");
    assert.equal(driver.describe(), 'cgroup v2: cpu, cpuset, memory, pids (groups under "hive")');
  });

  it("writes every limit: memory without swap, CPU quota, pinned cores, pids", async () => {
    const fs = v2Tree();
    const driver = await createCgroupV2Driver({ mount: ROOT, parent: "hive", fs });
    await driver.create("warm-up", {}); // the parent is made again (no writes) on every create
    const from = fs.writes.length;
    const group = await driver.create("d1", {
      memoryBytes: 64 * 2 ** 20,
      cpuQuotaCores: 0.5,
      cpus: [1],
      pidsMax: 32,
    });
    assert.deepEqual(writes(fs, from), [
      "hive/d1/memory.max=67108864",
      "hive/d1/memory.swap.max=0",
      "hive/d1/memory.oom.group=1",
      "hive/d1/cpu.max=50000 100000",
      "hive/d1/cpuset.cpus=1",
      "hive/d1/cpuset.cpus.partition=root",
      "hive/d1/pids.max=32",
    ]);
    assert.deepEqual(group.paths, [`${ROOT}/hive/d1`]);
    assert.deepEqual(group.warnings, [], "the fake kept 'root', so the partition took");
  });

  it("warns, and stays a member, when cores cannot be made exclusive", async () => {
    const fs = v2Tree();
    const driver = await createCgroupV2Driver({ mount: ROOT, parent: "hive", fs });
    fs.failWrites.set(`${ROOT}/hive/d2/cpuset.cpus.partition`, "EINVAL");
    const group = await driver.create("d2", { cpus: [2, 3] });
    assert.equal(fs.file(`${ROOT}/hive/d2/cpuset.cpus`), "2-3");
    assert.match(group.warnings.join(), /cores 2-3 pinned but not exclusive.*EINVAL/);
  });

  it("refuses cores outside the parent and leaves no group behind", async () => {
    const fs = v2Tree();
    const driver = await createCgroupV2Driver({ mount: ROOT, parent: "hive", fs });
    await assert.rejects(driver.create("d3", { cpus: [7] }), /cannot pin to cores 7: .* allows only 0-3/);
    assert.equal(fs.hasDir(`${ROOT}/hive/d3`), false);
  });

  it("explains the no-internal-processes rule when a controller cannot be enabled", async () => {
    const fs = v2Tree();
    fs.failWrites.set(`${ROOT}/cgroup.subtree_control`, "EBUSY");
    await assert.rejects(
      createCgroupV2Driver({ mount: ROOT, parent: "hive", fs }),
      (e: unknown) => e instanceof HiveError && /EBUSY \(the group holds processes itself/.test(e.message),
    );
  });

  it("reads statistics, kills through cgroup.kill, signals pids one by one otherwise", async () => {
    const fs = v2Tree();
    const sent: string[] = [];
    const driver = await createCgroupV2Driver({
      mount: ROOT,
      parent: "hive",
      fs,
      send: (p, s) => sent.push(`${p}:${s}`),
    });
    const group = await driver.create("d4", { memoryBytes: 2 ** 23 });
    const dir = `${ROOT}/hive/d4`;
    fs.setFile(`${dir}/memory.current`, "4096\n");
    fs.setFile(`${dir}/memory.peak`, "8192\n");
    fs.setFile(`${dir}/memory.events`, "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n");
    fs.setFile(`${dir}/cpu.stat`, "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
    assert.deepEqual(await group.stats(), {
      memoryBytes: 4096,
      memoryPeakBytes: 8192,
      cpuUsageNanos: 1_500_000,
      oomKills: 1,
      limitHits: 7,
    });
    fs.setFile(`${dir}/cgroup.procs`, "41\n42\n");
    assert.deepEqual(await group.pids(), [41, 42]);
    assert.equal(await group.killAll("SIGTERM"), 2);
    assert.deepEqual(sent, ["41:SIGTERM", "42:SIGTERM"]);
    const from = fs.writes.length;
    await group.killAll("SIGKILL");
    assert.deepEqual(writes(fs, from), ["hive/d4/cgroup.kill=1"]);
  });

  it("opens a group with its memory limit, lists, removes empty leftovers and the parent", async () => {
    const fs = v2Tree();
    const driver = await createCgroupV2Driver({ mount: ROOT, parent: "hive", fs, send: () => undefined });
    await driver.create("busy", { memoryBytes: 2 ** 26 });
    await driver.create("empty", {});
    fs.setFile(`${ROOT}/hive/busy/cgroup.procs`, "77\n");
    assert.deepEqual(await driver.list(), ["busy", "empty"]);
    assert.deepEqual((await driver.open("busy"))?.limits, { memoryBytes: 2 ** 26 });
    assert.equal(await driver.open("nope"), undefined);
    await assert.rejects(driver.create("busy", {}), /exists and still runs pids 77/);
    assert.deepEqual(await driver.removeStale(), ["empty"]);
    await assert.rejects(driver.removeParent(), /ENOTEMPTY/);
    fs.setFile(`${ROOT}/hive/busy/cgroup.procs`, "");
    await (await driver.open("busy"))?.destroy();
    await driver.removeParent();
    assert.equal(fs.hasDir(`${ROOT}/hive`), false);
  });

  it("wraps a command to enter its one directory", async () => {
    const fs = v2Tree();
    const driver = await createCgroupV2Driver({ mount: ROOT, parent: "hive", fs });
    const group = await driver.create("d5", {});
    const wrapped = driver.wrapCommand(group, "/usr/bin/python3", ["-c", "print(1)"]);
    assert.equal(wrapped.command, "/bin/sh");
    assert.match(wrapped.args[1] ?? "", /echo \$\$ > '\/cg\/hive\/d5\/cgroup.procs'/);
    assert.deepEqual(wrapped.args.slice(2), ["/usr/bin/python3", "-c", "print(1)"]);
  });

  it("is what detection picks on a pure v2 tree; a tree without memory falls through to none", async () => {
    assert.equal((await detectCgroups({ root: ROOT, parent: "hive", fs: v2Tree() })).kind, "v2");
    const bare = new FakeCgroupFs();
    bare.setFile(`${ROOT}/cgroup.controllers`, "cpu io");
    const none = await detectCgroups({ root: ROOT, fs: bare });
    assert.equal(none.kind, "none");
    assert.match(none.describe(), /WITHOUT limits.*does not offer memory/);
  });
});
