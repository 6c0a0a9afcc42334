import { FaultCluster } from "../test/faults/failover-kit.ts";
import { AuditTail, trial, whole } from "./failover-trials.ts";
const c = await FaultCluster.start({ runners: 3, periodMs: 10 });
try {
  const tail = new AuditTail(c.gatewayState);
  await whole(c, tail);
  for (const [i, f] of (["kill", "freeze", "partition", "kill", "freeze"] as const).entries()) {
    const t = await trial(c, tail, f, i);
    console.log(f, t.runner, t.toFenceMs, t.toFirstOrderMs, t.error ?? "");
  }
  const rows = c.audit();
  const fences = rows.filter((r) => r.kind === "fence" && r.outcome === "fenced");
  for (const fr of fences) {
    const after = rows.filter((r) => r.seq > fr.seq && r.deploymentId === fr.deploymentId && r.kind === "order").slice(0, 6);
    console.log("FENCE", fr.deploymentId, fr.decidedAtMs, (fr.detail ?? "").slice(-60));
    for (const a of after) console.log("   ", a.decidedAtMs - fr.decidedAtMs, a.outcome, a.code, a.clientOrderId);
  }
  for (const r of c.runners) {
    const lines = r.proc.lines.filter((l) => /order path|route|handshake/.test(String(l.json?.["msg"] ?? ""))).slice(-12);
    for (const l of lines) console.log(r.nodeId, l.json?.["time"], l.json?.["msg"], JSON.stringify(l.json).slice(0, 200));
  }
  console.log(c.gateway.tail(20));
} finally {
  await c.close();
}
