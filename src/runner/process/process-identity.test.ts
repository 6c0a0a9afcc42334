import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  isSameProcessAlive,
  parseProcStat,
  readBootId,
  readProcStat,
  type ProcStat,
} from "./process-identity.ts";
import { descendantsOf } from "./process-tree.ts";

describe("/proc/<pid>/stat", () => {
  it("parses a comm with spaces and parentheses by counting from the last ')'", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = "S";
    fields[22 - 3] = "123456";
    const stat = parseProcStat(`42 (my (odd) name) ${fields.join(" ")}`);
    assert.deepEqual(stat, {
      pid: 42,
      comm: "my (odd) name",
      state: "S",
      ppid: 4,
      pgrp: 5,
      session: 6,
      startTime: "123456",
    });
    assert.equal(parseProcStat("garbage"), undefined);
  });

  it("reads this process, and tells it from a reused pid by its start time", async () => {
    const self = await readProcStat(process.pid);
    assert.equal(self?.pid, process.pid);
    assert.equal(await isSameProcessAlive(process.pid, self?.startTime ?? ""), true);
    assert.equal(await isSameProcessAlive(process.pid, "1"), false);
    assert.equal(await readProcStat(2 ** 22 + 1), undefined);
    assert.match(await readBootId(), /^[0-9a-f-]{36}$/);
  });

  it("finds descendants through parent links, skipping zombies", () => {
    const p = (pid: number, ppid: number, state = "S"): ProcStat => ({
      pid,
      ppid,
      state,
      comm: "x",
      pgrp: pid,
      session: pid,
      startTime: `${pid}`,
    });
    const table = [p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(13, 10, "Z"), p(20, 1)];
    assert.deepEqual(
      descendantsOf(10, table).map((d) => d.pid),
      [11, 12],
    );
  });
});
