#!/usr/bin/env node
// Runs every test file with Node's own test runner (through tsx, for TypeScript).
// Node 20's `--test` does not expand globs, so the files are listed here. Unit tests sit beside
// the code (`src/**/*.test.ts`); cross-process tests live under `test/`. The runner's summary is
// the last thing printed, and its exit code is ours.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";

function find(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === "node_modules" || name === "gen") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = [...find("src"), ...find("test"), ...find("bench")].sort();
if (filter.length > 0) files = files.filter((f) => filter.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error("run-tests: no test files found");
  process.exit(1);
}
// No test reads or writes the user's own CLI context file (~/.config/hive/config): unless the
// caller chose one, HIVE_CONFIG names a file in a fresh directory, removed afterwards.
const configDir = process.env.HIVE_CONFIG ? undefined : mkdtempSync(join(tmpdir(), "hive-test-config-"));
const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], {
  stdio: "inherit",
  env: { ...process.env, ...(configDir ? { HIVE_CONFIG: join(configDir, "config") } : {}) },
});
// Stopped by a signal (a timeout, ^C): the tests get it too, and the directory still goes.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  if (configDir) rmSync(configDir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1));
});
