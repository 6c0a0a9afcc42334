import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServiceExplanation } from "../orchestrator/control-plane.ts";
import { ExitCode } from "./exit-codes.ts";
import { printExplanation } from "./explanation-view.ts";
import { memoryIo } from "./io.ts";

const base: ServiceExplanation = {
  decision: { ok: true, nodeId: "data-1", node: 0, score: 0.5, visited: 1, scored: 1 },
  nodes: [{ nodeId: "data-1", verdict: "chosen", score: 0.5, parts: {}, hot: undefined }],
  summary: "1 node: feasible",
  instances: [{ id: "pair.small-x", role: "active", replica: 0, nodeId: null, phase: "pending" }],
  explained: "pair.small-x",
};

test("a waiting instance its node could take alone, but whose layout is placed all or nothing, is not placeable", () => {
  const io = memoryIo();
  const code = printExplanation(
    io,
    "small",
    { ...base, waitsForLayout: "huge: 1 node: not enough cores" },
    false,
  );
  assert.equal(code, ExitCode.Failed);
  assert.match(
    io.stdout.join("\n"),
    /small waits for its whole layout to fit \(placed all or nothing\): huge: 1 node: not enough cores/,
  );
  const alone = memoryIo();
  assert.equal(printExplanation(alone, "small", base, false), ExitCode.Ok);
  assert.match(alone.stdout.join("\n"), /small waits; the next pass places it on data-1/);
});
