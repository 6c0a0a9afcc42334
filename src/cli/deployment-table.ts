/** The table of deployments that `hive deployments` and `hive status <layout>` print. */
import type { DeploymentView } from "../orchestrator/control-plane.ts";
import { formatTable } from "./table.ts";

/** One row per deployment; the last column says why it is not running, or what it offers. */
export function formatDeployments(deployments: readonly DeploymentView[]): string {
  return formatTable(
    ["deployment", "service", "role", "node", "phase", "pid", "restarts", "epoch", "detail"],
    deployments.map((d) => [
      d.id,
      d.service,
      d.role === "active" ? "active" : `standby ${d.replica}`,
      d.nodeId ?? "-",
      d.phase,
      d.pid === null ? "-" : String(d.pid),
      String(d.restarts),
      d.epoch,
      deploymentDetail(d),
    ]),
  );
}

/** Why a deployment is where it is: the scheduler's reason, its last exit, or its addresses. */
export function deploymentDetail(d: DeploymentView): string {
  if (d.pendingReason !== null) return d.pendingReason;
  if (d.lastExit !== null && d.phase !== "running") {
    const how = d.lastExit.signal ?? (d.lastExit.code === null ? "" : `code ${d.lastExit.code}`);
    // The runner's reason usually says it already ("exited with code 3", "killed by SIGKILL").
    const said = how === "" || d.lastExit.reason.includes(how);
    return said ? d.lastExit.reason : `${d.lastExit.reason} (${how})`;
  }
  const offers = Object.entries(d.addresses).map(([name, address]) => `${name}=${address}`);
  return offers.length === 0 ? "" : offers.join(" ");
}
