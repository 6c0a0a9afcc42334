// Log files: the copytruncate rotation, tails across the rotated and the current file, and
// following across rotations, first with a simulated writer (deterministic), then with a real
// process and the supervisor's own capper.
import assert from "node:assert/strict";
import { mkdir, open, readFile, stat, writeFile } from "node:fs/promises";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { exitMarkerPath, logDirOf, logPath, rotatedLogPath } from "./log-files.ts";
import { LogCapper, readGeneration, rotateIfFull } from "./log-rotation.ts";
import { assertNoDescendants, tempDir, waitFor } from "./testing/process-helpers.ts";
import { readLog } from "./read-log.ts";
import { spawnManaged } from "./spawn-managed.ts";

const dir = await tempDir("hive-log-test");
after(async () => {
  try {
    await assertNoDescendants();
  } finally {
    await dir.cleanup();
  }
});

/** Everything a readLog iteration yields, as one string. */
async function collect(iterable: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of iterable) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** A deployment's log directory with an O_APPEND writer on stdout, as the process would hold it. */
async function writer(id: string) {
  await mkdir(logDirOf(dir.path, id), { recursive: true });
  const file = await open(logPath(dir.path, id, "stdout"), "a");
  return {
    write: async (text: string) => void (await file.write(text)),
    close: () => file.close(),
    path: logPath(dir.path, id, "stdout"),
  };
}

describe("log rotation and readLog", () => {
  it("rotates a full file to .1 and the writer carries on at the start of the emptied file", async () => {
    const w = await writer("rot");
    try {
      await w.write("0123456789");
      assert.equal(await rotateIfFull(w.path, 11), false, "under the cap");
      await w.write("abc");
      assert.equal(await rotateIfFull(w.path, 11), true);
      await w.write("XYZ");
      assert.equal(await readFile(`${w.path}.1`, "utf8"), "0123456789abc");
      assert.equal(await readFile(w.path, "utf8"), "XYZ", "O_APPEND: no hole of zeros before it");
      assert.equal(await collect(readLog(dir.path, "rot", "stdout")), "0123456789abcXYZ");
      assert.equal(
        await collect(readLog(dir.path, "rot", "stdout", { tailBytes: 5 })),
        "bcXYZ",
        "a tail across both files",
      );
      assert.equal(await collect(readLog(dir.path, "rot", "stdout", { tailBytes: 2 })), "YZ");
      assert.equal(
        await collect(readLog(dir.path, "rot", "stderr")),
        "",
        "a stream that never wrote is empty",
      );
    } finally {
      await w.close();
    }
  });

  it("follows across rotations without losing a byte, and ends at the exit marker", async () => {
    const w = await writer("follow");
    const expected: string[] = [];
    const reading = collect(readLog(dir.path, "follow", "stdout", { follow: true, pollMs: 5 }));
    try {
      for (let i = 0; i < 60; i++) {
        const line = `line ${i}\n`;
        expected.push(line);
        await w.write(line);
        // The capper rotates at most once per check; the follower looks more often than that.
        if (i % 7 === 6 && (await rotateIfFull(w.path, 20))) await sleep(25);
        if (i % 3 === 0) await sleep(2);
      }
    } finally {
      await w.close();
    }
    await writeFile(exitMarkerPath(dir.path, "follow"), "{}\n");
    assert.equal(await reading, expected.join(""));
  });

  it("after two rotations between two looks, skips the gap rather than repeat or reorder", async () => {
    const w = await writer("gap");
    const reading = collect(readLog(dir.path, "gap", "stdout", { follow: true, pollMs: 40 }));
    try {
      await w.write("a1\na2\n");
      await sleep(60); // the follower has read a1 a2
      await w.write("a3\n");
      await rotateIfFull(w.path, 1);
      await w.write("b1\n");
      await rotateIfFull(w.path, 1);
      await w.write("c1\n");
    } finally {
      await w.close();
    }
    await writeFile(exitMarkerPath(dir.path, "gap"), "{}\n");
    const lines = (await reading).trim().split("\n");
    // Whether or not it looked between the rotations, what it read is in order, once each.
    assert.deepEqual(lines, [...new Set(lines)].sort());
    assert.deepEqual(lines.slice(0, 2), ["a1", "a2"]);
    assert.deepEqual(lines.slice(-2), ["b1", "c1"]);
  });

  it("waits while a rotation is under way, and a new capper settles one a dead runner left half-done", async () => {
    const w = await writer("interrupted");
    try {
      await w.write("old\n");
      await writeFile(`${w.path}.gen`, "3 rotating\n");
      const abort = new AbortController();
      const reading = collect(
        readLog(dir.path, "interrupted", "stdout", { follow: true, pollMs: 5, signal: abort.signal }),
      );
      await sleep(30);
      const capper = new LogCapper([w.path], 1 << 20, 5);
      capper.start();
      await waitFor("the capper to settle the counter", async () => !(await readGeneration(w.path)).rotating);
      await capper.close();
      assert.deepEqual(await readGeneration(w.path), { count: 3, rotating: false });
      await w.write("new\n");
      await writeFile(exitMarkerPath(dir.path, "interrupted"), "{}\n");
      assert.equal(await reading, "old\nnew\n", "nothing was read while the counter said rotating");
    } finally {
      await w.close();
    }
  });

  it("stops following when aborted", async () => {
    const w = await writer("abort");
    await w.write("before\n");
    const abort = new AbortController();
    const reading = collect(
      readLog(dir.path, "abort", "stdout", { follow: true, pollMs: 5, signal: abort.signal }),
    );
    await sleep(20);
    await w.write("during\n");
    await sleep(20);
    abort.abort();
    assert.equal(await reading, "before\nduring\n");
    await w.close();
  });
});

describe("logs of a real process", () => {
  it("are capped while it runs (about 2 × cap on disk), and a follower reads in order to the end", async () => {
    const cap = 2048;
    const line = 40;
    // Six rounds: write lines until the file reaches the cap, then wait for the capper to rotate
    // it, so the files never exceed the cap by more than a line, however slow the machine is.
    const script = [
      "import os, sys, time",
      "n = 0",
      "for _ in range(6):",
      `    while os.fstat(1).st_size < ${cap}:`,
      "        print(f'{n:05d} ' + 'x' * 33, flush=True); n += 1",
      "    deadline = time.time() + 10",
      `    while os.fstat(1).st_size >= ${cap}:`,
      "        if time.time() > deadline: sys.exit('never rotated')",
      "        time.sleep(0.001)",
      "print(f'{n:05d} ' + 'x' * 33, flush=True)",
    ].join("\n");
    const p = await spawnManaged({
      deploymentId: "chatty",
      command: "/usr/bin/python3",
      args: ["-c", script],
      env: {},
      logDir: dir.path,
      logCapBytes: cap,
      logCheckIntervalMs: 5,
    });
    const followed = collect(readLog(dir.path, "chatty", "stdout", { follow: true, pollMs: 2 }));
    let peak = 0;
    while (p.state === "running") {
      const current = await stat(logPath(dir.path, "chatty", "stdout")).catch(() => ({ size: 0 }));
      const rotated = await stat(rotatedLogPath(dir.path, "chatty", "stdout")).catch(() => ({ size: 0 }));
      peak = Math.max(peak, current.size + rotated.size);
      await sleep(1);
    }
    const status = await p.exited;
    assert.equal(status.code, 0, await readFile(logPath(dir.path, "chatty", "stderr"), "utf8"));
    assert.ok(peak <= 2 * (cap + line), `at most 2 × (cap + one line) on disk, saw ${peak}`);
    assert.deepEqual(await readGeneration(logPath(dir.path, "chatty", "stdout")), {
      count: 6,
      rotating: false,
    });
    const lines = (await followed).trim().split("\n");
    const numbers = lines.map((l) => Number(l.slice(0, 5)));
    assert.ok(
      numbers.every((n, i) => i === 0 || n > (numbers[i - 1] ?? -1)),
      "in order, nothing repeated",
    );
    const last = numbers.at(-1) ?? 0;
    assert.ok(last > 6 * (cap / line) - 6, `the follower read to the last line (${last}), then stopped`);
    const tail = await collect(readLog(dir.path, "chatty", "stdout", { tailBytes: 2 * line }));
    assert.equal(
      tail,
      `${String(last - 1).padStart(5, "0")} ${"x".repeat(33)}\n${String(last).padStart(5, "0")} ${"x".repeat(33)}\n`,
    );
  });
});
