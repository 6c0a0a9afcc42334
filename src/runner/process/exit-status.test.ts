import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyExit, type ExitFacts } from "./exit-status.ts";
import { isTerminal } from "./process-state.ts";

const base: ExitFacts = { code: null, signal: null, cause: "self", oomKilled: false };
const c = (facts: Partial<ExitFacts>) => {
  const { state, status } = classifyExit({ ...base, ...facts });
  return `${state}: ${status.reason}`;
};

describe("classifyExit", () => {
  it("tells success from failure for a process that ended on its own", () => {
    assert.equal(c({ code: 0 }), "exited: exited with code 0");
    assert.equal(c({ code: 3 }), "failed: exited with code 3");
    assert.equal(c({ signal: "SIGSEGV" }), "failed: killed by SIGSEGV");
  });

  it("names the memory limit when the OOM killer did it, whatever else happened", () => {
    assert.equal(
      c({ signal: "SIGKILL", oomKilled: true, memoryLimitBytes: 64 * 2 ** 20 }),
      "failed: killed by SIGKILL (out of memory: limit 64 MiB)",
    );
    assert.equal(
      c({ signal: "SIGKILL", oomKilled: true, cause: "stop" }),
      "failed: killed by SIGKILL (out of memory)",
    );
    assert.equal(
      c({ cause: "unobserved", oomKilled: true, memoryLimitBytes: 2 ** 30 }),
      "failed: killed (out of memory: limit 1 GiB)",
    );
  });

  it("says a stop was asked for, and when the grace period ran out", () => {
    assert.equal(c({ signal: "SIGTERM", cause: "stop" }), "killed: killed by SIGTERM (stop requested)");
    assert.equal(c({ code: 0, cause: "stop" }), "killed: exited with code 0 (stop requested)");
    assert.equal(
      c({ signal: "SIGKILL", cause: "stop-escalated", graceMs: 300 }),
      "killed: killed by SIGKILL (stop requested; still running after 300 ms grace)",
    );
    assert.equal(c({ signal: "SIGKILL", cause: "kill" }), "killed: killed by SIGKILL (kill requested)");
  });

  it("reports an adopted process's exit as unknown, and as a failure", () => {
    assert.match(c({ cause: "unobserved" }), /^failed: .*exit code unknown: adopted after a runner restart/);
  });

  it("has exactly three terminal states", () => {
    const states = ["starting", "running", "stopping", "exited", "failed", "killed"] as const;
    assert.deepEqual(states.filter(isTerminal), ["exited", "failed", "killed"]);
  });
});
