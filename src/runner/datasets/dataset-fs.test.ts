import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeDatasetFs } from "./dataset-fs.ts";

let root: string;
const fs = new NodeDatasetFs();

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "hive-dataset-fs-test-"));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("NodeDatasetFs.scan", () => {
  test("measures a file, a tree, and nothing", async () => {
    await writeFile(join(root, "f.bin"), Buffer.alloc(10));
    await mkdir(join(root, "t", "sub", "empty"), { recursive: true });
    await writeFile(join(root, "t", "sub", "x"), "abc");
    const file = await fs.scan(join(root, "f.bin"));
    assert.equal(file?.kind, "file");
    assert.deepEqual(
      file?.files.map((f) => [f.relativePath, f.bytes]),
      [["f.bin", 10]],
    );
    const tree = await fs.scan(join(root, "t"));
    assert.equal(tree?.kind, "directory");
    assert.deepEqual(
      tree?.files.map((f) => [f.relativePath, f.bytes]),
      [[join("sub", "x"), 3]],
    );
    assert.deepEqual(tree?.directories, ["sub", join("sub", "empty")]);
    const x = await lstat(join(root, "t", "sub", "x"));
    assert.equal(tree?.files[0]?.identity, `${x.dev}:${x.ino}`, "which file was measured");
    assert.equal(await fs.scan(join(root, "missing")), undefined);
  });

  // A symbolic link is never followed, wherever it points: to a file inside the source (which
  // was copied as content until issue 16), outside it (the runner's key, say), to a directory,
  // nowhere; and the source itself may not be one.
  const links: [string, (t: string) => string][] = [
    ["a file inside the source", (t) => join(t, "data.csv")],
    ["a file outside the source", () => "/etc/hostname"],
    ["a directory", () => root],
    ["nothing (dangling)", () => join(root, "missing")],
  ];
  for (const [what, target] of links) {
    test(`a symbolic link to ${what} fails the scan with its path`, async () => {
      const t = join(root, "t");
      await mkdir(join(t, "sub"), { recursive: true });
      await writeFile(join(t, "data.csv"), "a,b\n");
      await symlink(target(t), join(t, "sub", "link"));
      await assert.rejects(fs.scan(t), (err: Error & { code?: string }) => {
        assert.equal(err.code, "invalid_argument");
        assert.ok(err.message.includes(join(t, "sub", "link")), err.message);
        assert.match(err.message, /symbolic link/);
        return true;
      });
    });
  }

  test("a source that is itself a symbolic link is refused with its path", async () => {
    await writeFile(join(root, "real.csv"), "a\n");
    await symlink(join(root, "real.csv"), join(root, "latest.csv"));
    await assert.rejects(fs.scan(join(root, "latest.csv")), (err: Error & { code?: string }) => {
      assert.equal(err.code, "invalid_argument");
      assert.ok(err.message.includes(join(root, "latest.csv")));
      return true;
    });
  });

  test("refuses special files, naming them", async () => {
    execFileSync("mkfifo", [join(root, "fifo")]);
    await assert.rejects(fs.scan(join(root, "fifo")), (err: Error & { code?: string }) => {
      assert.equal(err.code, "invalid_argument");
      assert.ok(err.message.includes(join(root, "fifo")));
      return true;
    });
  });
});

describe("NodeDatasetFs, what a deployment may do with the copy", () => {
  test("copies are read-only for all (0444) in directories only the runner writes (0755)", async () => {
    await writeFile(join(root, "src"), "payload");
    await fs.mkdir(join(root, "copy", "sub"));
    await fs.copyFile(
      join(root, "src"),
      join(root, "copy", "sub", "f"),
      () => {},
      new AbortController().signal,
    );
    await fs.writeText(join(root, "copy", "manifest.json"), "{}\n");
    assert.equal((await stat(join(root, "copy", "sub", "f"))).mode & 0o7777, 0o444);
    assert.equal((await stat(join(root, "copy", "manifest.json"))).mode & 0o7777, 0o444);
    assert.equal((await stat(join(root, "copy", "sub"))).mode & 0o7777, 0o755);
    assert.equal(await readFile(join(root, "copy", "sub", "f"), "utf8"), "payload");
  });

  test("copyFile never follows a symbolic link, and refuses a file that is not the one measured", async () => {
    await writeFile(join(root, "a"), "aaa");
    await writeFile(join(root, "b"), "bbb");
    await symlink(join(root, "a"), join(root, "link"));
    const signal = new AbortController().signal;
    await assert.rejects(
      fs.copyFile(join(root, "link"), join(root, "out1"), () => {}, signal),
      (err: Error) => {
        assert.ok(err.message.includes(join(root, "link")) && /symbolic link/.test(err.message), err.message);
        return true;
      },
    );
    // Measured as "a", then swapped for another file before the copy (a directory above it
    // replaced by a link would look the same): refused, nothing copied.
    const measured = await fs.scan(join(root, "a"));
    await assert.rejects(
      fs.copyFile(join(root, "b"), join(root, "out2"), () => {}, signal, measured?.files[0]?.identity),
      /not the file measured/,
    );
    assert.deepEqual((await readdir(root)).sort(), ["a", "b", "link"]);
  });
});

describe("NodeDatasetFs.copyFile", () => {
  test("stops when its signal aborts, and never overwrites", async () => {
    await writeFile(join(root, "src"), Buffer.alloc(12 * 2 ** 20));
    const controller = new AbortController();
    const copied: number[] = [];
    const copy = fs.copyFile(
      join(root, "src"),
      join(root, "dst"),
      (n) => {
        copied.push(n);
        controller.abort();
      },
      controller.signal,
    );
    await assert.rejects(copy, { name: "AbortError" });
    assert.equal(copied.length, 1);
    await assert.rejects(
      fs.copyFile(join(root, "src"), join(root, "dst"), () => {}, new AbortController().signal),
      {
        code: "EEXIST",
      },
    );
  });

  test("list, readText, writeText and remove behave on missing paths", async () => {
    assert.deepEqual(await fs.list(join(root, "none")), []);
    assert.equal(await fs.readText(join(root, "none")), undefined);
    await fs.remove(join(root, "none"));
    await fs.writeText(join(root, "m.json"), "{}\n");
    assert.deepEqual(await fs.list(root), [{ name: "m.json", directory: false }]);
    await fs.remove(join(root, "m.json"));
    assert.deepEqual(await readdir(root), []);
  });
});
