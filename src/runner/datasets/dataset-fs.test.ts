import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
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
  test("measures a file, a tree (symbolic links to files followed), and nothing", async () => {
    await writeFile(join(root, "f.bin"), Buffer.alloc(10));
    await mkdir(join(root, "t", "sub", "empty"), { recursive: true });
    await writeFile(join(root, "t", "sub", "x"), "abc");
    await symlink(join(root, "f.bin"), join(root, "t", "link"));
    assert.deepEqual(await fs.scan(join(root, "f.bin")), {
      kind: "file",
      files: [{ relativePath: "f.bin", bytes: 10 }],
      directories: [],
    });
    assert.deepEqual(await fs.scan(join(root, "t")), {
      kind: "directory",
      files: [
        { relativePath: "link", bytes: 10 },
        { relativePath: join("sub", "x"), bytes: 3 },
      ],
      directories: ["sub", join("sub", "empty")],
    });
    assert.equal(await fs.scan(join(root, "missing")), undefined);
  });

  test("refuses special files and links to directories, naming them", async () => {
    await mkdir(join(root, "t"));
    await symlink(root, join(root, "t", "loop"));
    await assert.rejects(fs.scan(join(root, "t")), (err: Error & { code?: string }) => {
      assert.equal(err.code, "invalid_argument");
      assert.ok(err.message.includes(join(root, "t", "loop")));
      return true;
    });
    execFileSync("mkfifo", [join(root, "fifo")]);
    await assert.rejects(fs.scan(join(root, "fifo")), { code: "invalid_argument" });
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
