/** How `hive explain` prints an explanation, whether from a cluster file or the live orchestrator. */
import type { Explanation, NodeVerdict } from "../scheduler/index.ts";
import { ExitCode } from "./exit-codes.ts";
import type { CliIo } from "./io.ts";
import { formatTable } from "./table.ts";

/** Prints the decision, the summary and a reason for every node; returns the exit status. */
export function printExplanation(io: CliIo, service: string, e: Explanation, json: boolean): ExitCode {
  if (json) {
    io.out(JSON.stringify(e));
  } else {
    io.out(
      e.decision.ok
        ? `${service}: placed on ${e.decision.nodeId}`
        : `${service}: pending, no node can take it`,
    );
    io.out(`${e.summary}\n`);
    io.out(formatTable(["node", "verdict", "score", "why"], e.nodes.map(row)));
  }
  return e.decision.ok ? ExitCode.Ok : ExitCode.Failed;
}

function row(v: NodeVerdict): string[] {
  if (v.verdict === "refused") return [v.nodeId, "refused", "-", v.detail];
  const parts = Object.entries(v.parts)
    .map(([k, s]) => `${k} ${s.toFixed(2)}`)
    .join(", ");
  const hot = v.hot === undefined ? "" : v.hot ? "dataset hot; " : "dataset not hot; ";
  return [v.nodeId, v.verdict, v.score.toFixed(3), `${hot}${parts}`];
}
