// A deployment id becomes a directory under the log directory, and a LogRequest brings one from
// the wire: one that would leave the directory ('../x', 'a/b', '..') is refused, on real files.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { ErrorCode } from "../../core/hive-error.ts";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import { LogRequestSchema, LogStream } from "../../protocol/index.ts";
import {
  exitMarkerPath,
  logDirOf,
  logPath,
  openLogFiles,
  rotatedLogPath,
  writeExitMarker,
} from "./log-files.ts";
import { LogStreams, type LogStreamChunk } from "./log-streams.ts";
import { readLog } from "./read-log.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

const ESCAPING = ["../x", "a/b", "..", ".", "", "/etc", ".hidden", "x\0y"];

/** A log directory `logs/` with, beside it, a deployment-like directory `x/` holding a stdout log. */
function logDirBesideSecret(): { logDir: string; outside: string } {
  const root = dirs.make("hive-logfiles-");
  const logDir = join(root, "logs");
  const outside = join(root, "x");
  mkdirSync(logDir);
  mkdirSync(outside);
  writeFileSync(join(outside, "stdout.log"), "not this deployment's\n");
  return { logDir, outside };
}

test("every log path refuses a deployment id that is not one safe path component, naming it", () => {
  const { logDir } = logDirBesideSecret();
  for (const id of ESCAPING) {
    for (const path of [
      () => logDirOf(logDir, id),
      () => logPath(logDir, id, "stdout"),
      () => rotatedLogPath(logDir, id, "stderr"),
      () => exitMarkerPath(logDir, id),
    ]) {
      assert.throws(path, { code: ErrorCode.InvalidArgument, message: /^invalid deployment id "/ }, id);
    }
  }
  assert.equal(
    logPath(logDir, "demo.feeder-s1-abc123", "stdout"),
    join(logDir, "demo.feeder-s1-abc123", "stdout.log"),
  );
});

test("opening logs or writing the exit marker for '../x' touches nothing outside the log directory", async () => {
  const { logDir, outside } = logDirBesideSecret();
  await assert.rejects(openLogFiles(logDir, "../y"), { code: ErrorCode.InvalidArgument });
  assert.equal(existsSync(join(logDir, "..", "y")), false, "no directory made beside the log directory");
  await assert.rejects(
    writeExitMarker(logDir, "../x", {
      code: 0,
      signal: null,
      oomKilled: false,
      reason: "exited with code 0",
    }),
    {
      code: ErrorCode.InvalidArgument,
    },
  );
  assert.equal(existsSync(join(outside, "exit.json")), false, "no exit marker written outside");
});

test("reading the log of '../x' is refused, not the file beside the log directory", async () => {
  const { logDir } = logDirBesideSecret();
  const read = async () => {
    for await (const chunk of readLog(logDir, "../x", "stdout")) assert.fail(`read ${chunk.toString()}`);
  };
  await assert.rejects(read, { code: ErrorCode.InvalidArgument, message: /invalid deployment id "\.\.\/x"/ });
});

test("a LogRequest for '../x' is refused with a warn line and answered with the end-of-file chunk alone", async () => {
  const { logDir } = logDirBesideSecret();
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "info" },
    { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  );
  const sent: LogStreamChunk[] = [];
  const streams = new LogStreams(logDir, (c) => void sent.push(c), log);
  for (const deploymentId of ["../x", "a/b"]) {
    await streams.serve(
      create(LogRequestSchema, { requestId: `r-${deploymentId}`, deploymentId, stream: LogStream.STDOUT }),
    );
  }
  assert.deepEqual(
    sent.map((c) => [c.requestId, c.data === undefined, c.eof]),
    [
      ["r-../x", true, true],
      ["r-a/b", true, true],
    ],
  );
  const refused = lines.filter((l) => l.msg === "log request refused");
  assert.deepEqual(
    refused.map((l) => [l.level, l.deploymentId]),
    [
      [40, "../x"],
      [40, "a/b"],
    ],
  );
  assert.match(String(refused[0]?.reason), /invalid deployment id "\.\.\/x": expected 1-128 characters/);
});
