import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { readCapacity } from "./capacity.ts";
import { FakeHostFiles } from "./testing/fake-host-files.ts";
import { parseMeminfo } from "./meminfo.ts";

const GiB = 2 ** 30;

function machine(extra: Record<string, string> = {}): FakeHostFiles {
  return new FakeHostFiles({
    "/proc/meminfo": `MemTotal: ${16 * 1024 * 1024} kB\nMemAvailable: ${8 * 1024 * 1024} kB\n`,
    "/sys/devices/system/cpu/online": "0-7\n",
    "/proc/self/status": "Name:\tnode\nCpus_allowed_list:\t0-7\n",
    "/proc/self/cgroup": "4:memory:/hive\n3:cpuset:/hive\n1:cpu:/hive\n",
    "/proc/self/mountinfo": [
      "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu",
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset",
      "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
      "",
    ].join("\n"),
    ...extra,
  });
}

describe("readCapacity (fake machine)", () => {
  test("an unrestricted machine offers all its CPUs and MemTotal", () => {
    assert.deepEqual(readCapacity({ files: machine(), parallelism: 8 }), {
      cores: 8,
      memoryBytes: 16 * GiB,
      cpus: [0, 1, 2, 3, 4, 5, 6, 7],
      limitedBy: { cores: "host", memory: "host" },
    });
  });

  test("a cpuset and a lower memory limit narrow it", () => {
    const files = machine({
      "/proc/self/status": "Cpus_allowed_list:\t2-3\n",
      "/sys/fs/cgroup/cpuset/hive/cpuset.effective_cpus": "2-3\n",
      "/sys/fs/cgroup/memory/hive/memory.limit_in_bytes": `${4 * GiB}\n`,
    });
    assert.deepEqual(readCapacity({ files, parallelism: 2 }), {
      cores: 2,
      memoryBytes: 4 * GiB,
      cpus: [2, 3],
      limitedBy: { cores: "cpuset", memory: "memory_limit" },
    });
  });

  test("a CPU quota below the cpuset gives fractional cores; a limit above MemTotal is ignored", () => {
    const files = machine({
      "/sys/fs/cgroup/cpu/hive/cpu.cfs_quota_us": "250000\n",
      "/sys/fs/cgroup/cpu/hive/cpu.cfs_period_us": "100000\n",
      "/sys/fs/cgroup/memory/hive/memory.limit_in_bytes": `${64 * GiB}\n`,
    });
    const capacity = readCapacity({ files, parallelism: 8 });
    assert.equal(capacity.cores, 2.5);
    assert.equal(capacity.memoryBytes, 16 * GiB);
    assert.deepEqual(capacity.limitedBy, { cores: "cpu_quota", memory: "host" });
  });

  test("an affinity mask (taskset) narrows the CPUs", () => {
    const files = machine({ "/proc/self/status": "Cpus_allowed_list:\t0,4\n" });
    const capacity = readCapacity({ files, parallelism: 2 });
    assert.deepEqual([capacity.cores, capacity.cpus, capacity.limitedBy.cores], [2, [0, 4], "affinity"]);
  });

  test("throws a failed_precondition naming /proc/meminfo when it is unreadable", () => {
    assert.throws(
      () => readCapacity({ files: new FakeHostFiles(), parallelism: 1 }),
      (err: Error & { code?: string }) =>
        err.code === "failed_precondition" && /\/proc\/meminfo/.test(err.message),
    );
  });
});

describe("readCapacity (this machine)", () => {
  test("reports real cores and memory within the machine's own figures", () => {
    const capacity = readCapacity();
    const memTotal = parseMeminfo(readFileSync("/proc/meminfo", "utf8"))?.totalBytes ?? 0;
    assert.ok(capacity.cores > 0 && capacity.cores <= availableParallelism(), `cores ${capacity.cores}`);
    assert.ok(capacity.memoryBytes > 0 && capacity.memoryBytes <= memTotal, `memory ${capacity.memoryBytes}`);
    assert.ok(capacity.cpus.length >= Math.ceil(capacity.cores) || capacity.limitedBy.cores === "cpu_quota");
  });
});
