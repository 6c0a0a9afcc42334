import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  cgroupDirs,
  parseCgroupMounts,
  parseCpuList,
  parseProcCgroup,
  readOwnCgroupLimits,
} from "./own-cgroup-limits.ts";
import { FakeHostFiles } from "./testing/fake-host-files.ts";

// A hybrid machine (as this project's test machines are): v1 controllers plus an empty v2 mount.
const HYBRID_CGROUP = [
  "9:name=systemd:/",
  "4:memory:/process_api/57e6",
  "3:cpuset:/",
  "1:cpu:/jobs/j1",
  "0::/",
  "",
].join("\n");

const HYBRID_MOUNTINFO = [
  "22 1 0:21 / /proc rw,nosuid - proc proc rw",
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  "",
].join("\n");

describe("parseProcCgroup", () => {
  test("reads hierarchy, controllers and path of each line", () => {
    assert.deepEqual(parseProcCgroup(HYBRID_CGROUP).slice(1, 2), [
      { hierarchy: 4, controllers: ["memory"], path: "/process_api/57e6" },
    ]);
    assert.deepEqual(parseProcCgroup("0::/system.slice/hive.service\n"), [
      { hierarchy: 0, controllers: [], path: "/system.slice/hive.service" },
    ]);
  });
});

describe("parseCgroupMounts", () => {
  test("keeps only cgroup mounts, with optional fields and escaped paths", () => {
    const mounts = parseCgroupMounts(
      HYBRID_MOUNTINFO + "50 31 0:40 /docker/abc /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,pids\n",
    );
    assert.equal(mounts.length, 5);
    assert.deepEqual(mounts[2], {
      version: 1,
      mountPoint: "/sys/fs/cgroup/memory",
      root: "/",
      controllers: ["rw", "memory"],
    });
    assert.deepEqual(mounts[3], {
      version: 2,
      mountPoint: "/sys/fs/cgroup/unified",
      root: "/",
      controllers: [],
    });
    assert.equal(mounts[4]?.mountPoint, "/sys/fs/cgroup/my dir");
    assert.equal(mounts[4]?.root, "/docker/abc");
  });
});

describe("parseCpuList", () => {
  test("expands ranges and singles, sorted and without duplicates", () => {
    assert.deepEqual(parseCpuList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
    assert.deepEqual(parseCpuList("2,1,1-2"), [1, 2]);
    assert.deepEqual(parseCpuList(""), []);
  });

  test("is undefined when malformed", () => {
    assert.equal(parseCpuList("0-"), undefined);
    assert.equal(parseCpuList("3-1"), undefined);
    assert.equal(parseCpuList("a"), undefined);
  });
});

describe("cgroupDirs", () => {
  const memberships = parseProcCgroup(HYBRID_CGROUP);
  const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);

  test("walks from our cgroup up to the mount point", () => {
    assert.deepEqual(cgroupDirs(memberships, mounts, "memory"), [
      "/sys/fs/cgroup/memory/process_api/57e6",
      "/sys/fs/cgroup/memory/process_api",
      "/sys/fs/cgroup/memory",
    ]);
    assert.deepEqual(cgroupDirs(memberships, mounts, undefined), ["/sys/fs/cgroup/unified"]);
  });

  test("strips a mount root that our path starts with (a mounted sub-tree)", () => {
    const sub = parseCgroupMounts("1 0 0:1 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
    const member = parseProcCgroup("4:memory:/docker/abc/job\n");
    assert.deepEqual(cgroupDirs(member, sub, "memory"), [
      "/sys/fs/cgroup/memory/job",
      "/sys/fs/cgroup/memory",
    ]);
  });

  test("is empty for a controller that is not mounted", () => {
    assert.deepEqual(cgroupDirs(memberships, mounts, "pids"), []);
  });
});

describe("readOwnCgroupLimits", () => {
  test("v1: the tightest memory limit and CPU quota along the ancestry, and the cpuset", () => {
    const files = new FakeHostFiles({
      "/proc/self/cgroup": HYBRID_CGROUP.replace("3:cpuset:/", "3:cpuset:/pinned"),
      "/proc/self/mountinfo": HYBRID_MOUNTINFO,
      "/sys/fs/cgroup/memory/process_api/57e6/memory.limit_in_bytes": "9223372036854771712\n",
      "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes": "8589934592\n",
      "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
      "/sys/fs/cgroup/cpu/jobs/j1/cpu.cfs_quota_us": "150000\n",
      "/sys/fs/cgroup/cpu/jobs/j1/cpu.cfs_period_us": "100000\n",
      "/sys/fs/cgroup/cpu/jobs/cpu.cfs_quota_us": "-1\n",
      "/sys/fs/cgroup/cpu/jobs/cpu.cfs_period_us": "100000\n",
      "/sys/fs/cgroup/cpuset/pinned/cpuset.effective_cpus": "2-3\n",
    });
    assert.deepEqual(readOwnCgroupLimits(files), {
      cpus: [2, 3],
      cpuQuotaCores: 1.5,
      memoryBytes: 8589934592,
    });
  });

  test("v2: memory.max, cpu.max and cpuset.cpus.effective; 'max' means unlimited", () => {
    const files = new FakeHostFiles({
      "/proc/self/cgroup": "0::/hive.slice/runner\n",
      "/proc/self/mountinfo": "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
      "/sys/fs/cgroup/hive.slice/runner/memory.max": "max\n",
      "/sys/fs/cgroup/hive.slice/memory.max": "4294967296\n",
      "/sys/fs/cgroup/hive.slice/runner/cpu.max": "max 100000\n",
      "/sys/fs/cgroup/hive.slice/cpu.max": "300000 100000\n",
      "/sys/fs/cgroup/hive.slice/runner/cpuset.cpus.effective": "0-1,4\n",
    });
    assert.deepEqual(readOwnCgroupLimits(files), {
      cpus: [0, 1, 4],
      cpuQuotaCores: 3,
      memoryBytes: 4294967296,
    });
  });

  test("says nothing when no cgroup limits us (or /proc says nothing)", () => {
    const files = new FakeHostFiles({
      "/proc/self/cgroup": "0::/\n",
      "/proc/self/mountinfo": "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
      "/sys/fs/cgroup/memory.max": "max\n",
    });
    assert.deepEqual(readOwnCgroupLimits(files), {});
    assert.deepEqual(readOwnCgroupLimits(new FakeHostFiles()), {});
  });
});
