/** How `hive explain` prints an explanation, whether from a cluster file or the live orchestrator. */
import type { ServiceExplanation } from "../orchestrator/control-plane.ts";
import type { Explanation, NodeVerdict } from "../scheduler/index.ts";
import { ExitCode } from "./exit-codes.ts";
import type { CliIo } from "./io.ts";
import { formatTable } from "./table.ts";

/**
 * Prints where the service's instances are (live), the decision, the summary and a reason for every
 * node; returns the exit status: 1 when what is explained is pending and no node can take it (or
 * it waits for its whole layout, which does not fit).
 */
export function printExplanation(
  io: CliIo,
  service: string,
  e: Explanation | ServiceExplanation,
  json: boolean,
): ExitCode {
  const live = "instances" in e ? e : undefined;
  const waiting = live?.instances.find((i) => i.id === live.explained);
  const placedAlready = live !== undefined && live.instances.length > 0 && waiting === undefined;
  if (json) {
    io.out(JSON.stringify(e));
  } else {
    if (live && live.instances.length > 0) {
      const where = live.instances
        .map((i) => `${instanceName(i)} ${i.nodeId ? `on ${i.nodeId}` : "unplaced"} (${i.phase})`)
        .join("; ");
      io.out(`${service}: ${where}`);
    }
    if (waiting) {
      const who = `${service}${waiting.role === "active" ? "" : ` (${instanceName(waiting)})`}`;
      io.out(
        live?.waitsForLayout !== undefined
          ? `${who} waits for its whole layout to fit (placed all or nothing): ${live.waitsForLayout}`
          : e.decision.ok
            ? `${who} waits; the next pass places it on ${e.decision.nodeId}`
            : `${who} waits: no node can take it`,
      );
    } else if (placedAlready) {
      io.out(
        e.decision.ok
          ? `placed now, without its own instances in the way, it would go to ${e.decision.nodeId}`
          : "placed now, no node could take it (what runs keeps running)",
      );
    } else {
      io.out(
        e.decision.ok
          ? `${service}: placed on ${e.decision.nodeId}`
          : `${service}: pending, no node can take it`,
      );
    }
    io.out(`${e.summary}\n`);
    io.out(formatTable(["node", "verdict", "score", "why"], e.nodes.map(row)));
  }
  const placeable = e.decision.ok && live?.waitsForLayout === undefined;
  return placeable || placedAlready ? ExitCode.Ok : ExitCode.Failed;
}

function instanceName(i: { role: "active" | "standby"; replica: number }): string {
  return i.role === "active" ? "active" : `standby ${i.replica}`;
}

function row(v: NodeVerdict): string[] {
  if (v.verdict === "refused") return [v.nodeId, "refused", "-", v.detail];
  const parts = Object.entries(v.parts)
    .map(([k, s]) => `${k} ${s.toFixed(2)}`)
    .join(", ");
  const hot = v.hot === undefined ? "" : v.hot ? "dataset hot; " : "dataset not hot; ";
  return [v.nodeId, v.verdict, v.score.toFixed(3), `${hot}${parts}`];
}
