import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { FakeHostFiles } from "./testing/fake-host-files.ts";
import { LoadSampler } from "./load-sampler.ts";

const KiB = 1024;

describe("LoadSampler (fake /proc)", () => {
  const meminfo = `MemTotal: 1000 kB\nMemAvailable: 250 kB\n`;

  test("CPU is the busy share since the previous sample; memory is MemTotal - MemAvailable", () => {
    const files = new FakeHostFiles({ "/proc/stat": "cpu 100 0 0 900\n", "/proc/meminfo": meminfo });
    const sampler = new LoadSampler({ files });
    files.set("/proc/stat", "cpu 150 0 0 950\n");
    assert.deepEqual(sampler.sample(), { cpu: 0.5, memoryUsedBytes: 750 * KiB });
    files.set("/proc/stat", "cpu 150 0 0 1050\n");
    assert.equal(sampler.sample().cpu, 0);
  });

  test("a sample within the same tick repeats the previous CPU figure", () => {
    const files = new FakeHostFiles({ "/proc/stat": "cpu 0 0 0 0\n", "/proc/meminfo": meminfo });
    const sampler = new LoadSampler({ files });
    files.set("/proc/stat", "cpu 30 0 0 70\n");
    assert.equal(sampler.sample().cpu, 0.3);
    assert.equal(sampler.sample().cpu, 0.3);
  });

  test("measures only the given CPUs when restricted", () => {
    const files = new FakeHostFiles({
      "/proc/stat": "cpu 0 0 0 0\ncpu0 0 0 0 0\ncpu1 0 0 0 0\n",
      "/proc/meminfo": meminfo,
    });
    const sampler = new LoadSampler({ files, cpus: [1] });
    files.set("/proc/stat", "cpu 110 0 0 90\ncpu0 10 0 0 90\ncpu1 100 0 0 0\n");
    assert.equal(sampler.sample().cpu, 1);
  });

  test("throws a failed_precondition naming the file when /proc is unreadable", () => {
    assert.throws(
      () => new LoadSampler({ files: new FakeHostFiles() }),
      (err: Error & { code?: string }) =>
        err.code === "failed_precondition" && /\/proc\/stat/.test(err.message),
    );
  });
});

describe("LoadSampler (this machine)", () => {
  test("sees a busy child as CPU load above 0, and memory within MemTotal", async () => {
    const sampler = new LoadSampler();
    const child = spawn(process.execPath, ["-e", "const end = Date.now() + 300; while (Date.now() < end);"], {
      stdio: "ignore",
    });
    try {
      const [code] = (await once(child, "exit")) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    const load = sampler.sample();
    assert.ok(load.cpu > 0 && load.cpu <= 1, `cpu ${load.cpu}`);
    assert.ok(load.memoryUsedBytes > 0, `memory ${load.memoryUsedBytes}`);
  });
});
