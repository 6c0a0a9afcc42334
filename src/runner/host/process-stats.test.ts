import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { parsePidStat, parseStatm, processStats } from "./process-stats.ts";
import { FakeHostFiles } from "./testing/fake-host-files.ts";

describe("parsePidStat", () => {
  // A real line, with a command name holding spaces and a ')'.
  const STAT =
    "12707 (my (evil) cmd) R 12699 12699 11449 0 -1 4194304 99 0 0 0 321 45 7 2 20 0 3 0 105470 " +
    "3133440 373 18446744073709551615 94371672555520 94371672575401 140736859437360 0 0 0 0 0 0 0 0 0 " +
    "17 0 0 0 0 0 0 94371672591408 94371672593024 94372335439872 140736859445985 140736859446005 " +
    "140736859446005 140736859447275 0\n";

  test("counts the fields from the last ')' so the command name may hold anything", () => {
    assert.deepEqual(parsePidStat(STAT), {
      pid: 12707,
      comm: "my (evil) cmd",
      state: "R",
      ppid: 12699,
      utimeTicks: 321,
      stimeTicks: 45,
      threads: 3,
      startTicks: 105470,
    });
  });

  test("is undefined for a truncated or empty line", () => {
    assert.equal(parsePidStat("12707 (cat) R 1 2"), undefined);
    assert.equal(parsePidStat(""), undefined);
  });
});

describe("parseStatm", () => {
  test("reads size, resident and shared pages", () => {
    assert.deepEqual(parseStatm("765 406 378 5 0 123 0\n"), {
      sizePages: 765,
      residentPages: 406,
      sharedPages: 378,
    });
  });

  test("is undefined when malformed", () => {
    assert.equal(parseStatm("765 x 378"), undefined);
    assert.equal(parseStatm(""), undefined);
  });
});

describe("processStats (this machine)", () => {
  test("reads our own process: resident memory and CPU time in range", () => {
    const stats = processStats(process.pid);
    assert.ok(stats);
    assert.equal(stats.pid, process.pid);
    const rss = process.memoryUsage().rss;
    assert.ok(stats.rssBytes > rss / 2 && stats.rssBytes < rss * 2, `rss ${stats.rssBytes} vs ${rss}`);
    assert.ok(stats.cpuMs > 0 && stats.cpuMs === stats.userCpuMs + stats.systemCpuMs);
    assert.ok(stats.threads >= 1);
  });

  test("is undefined for a process that has exited", async () => {
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    const pid = child.pid;
    await once(child, "exit");
    assert.ok(pid !== undefined);
    assert.equal(processStats(pid), undefined);
  });
});

describe("processStats (fake /proc)", () => {
  test("converts pages and ticks with the machine's constants", () => {
    const files = new FakeHostFiles({
      "/proc/42/stat": "42 (x) S 1 42 42 0 -1 0 0 0 0 0 150 50 0 0 20 0 2 0 777 0 0\n",
      "/proc/42/statm": "100 10 5 1 0 20 0\n",
    });
    assert.deepEqual(processStats(42, files), {
      pid: 42,
      state: "S",
      rssBytes: 10 * 4096,
      cpuMs: 2000,
      userCpuMs: 1500,
      systemCpuMs: 500,
      threads: 2,
      startTicks: 777,
    });
  });
});
