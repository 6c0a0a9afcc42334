import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Orchestrator } from "./orchestrator.ts";

/** The orchestrator's Prometheus metrics, served at /metrics. */
export interface OrchestratorMetrics {
  readonly registry: Registry;
  /** Heartbeats received, and how long after the runner stamped them they were in the registry. */
  readonly heartbeats: Counter;
}

/**
 * Builds the metrics. Gauges (nodes by health, deployments by phase) are computed when scraped,
 * from the orchestrator's own state, so they can never drift from it.
 */
export function orchestratorMetrics(core: Orchestrator): OrchestratorMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ component: "orchestrator" });
  // The process's own figures too (CPU, memory, GC, event-loop delay since the last scrape):
  // a busy orchestrator is first seen there.
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "hive_nodes",
    help: "Registered nodes by pool and health",
    labelNames: ["pool", "health"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const n of await core.listNodes()) this.inc({ pool: n.pool, health: n.health });
    },
  });
  new Gauge({
    name: "hive_deployments",
    help: "Deployments by phase",
    labelNames: ["phase"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await core.listDeployments()) this.inc({ phase: d.phase });
    },
  });
  new Gauge({
    name: "hive_node_unlimited",
    help: "1 for a node whose runner runs processes without resource limits",
    labelNames: ["node"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const n of await core.listNodes()) this.set({ node: n.id }, n.unlimited ? 1 : 0);
    },
  });
  new Gauge({
    name: "hive_heartbeats_withheld",
    help: "Heartbeats from nodes declared down, not acknowledged (the node must register again), since start",
    registers: [registry],
    collect() {
      this.set(core.reportCounts().withheldAcks);
    },
  });
  new Gauge({
    name: "hive_stray_order_paths_closed",
    help: "Closes sent for order paths a heartbeat showed open on a node that is not their active's, since start",
    registers: [registry],
    collect() {
      this.set(core.reportCounts().strayPathsClosed);
    },
  });
  const heartbeats = new Counter({
    name: "hive_heartbeats_total",
    help: "Heartbeats received from runners",
    registers: [registry],
  });
  const lag = new Histogram({
    name: "hive_heartbeat_lag_seconds",
    help: "From a runner sending a heartbeat to the registry having it (wall clocks of both)",
    registers: [registry],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
  });
  core.onHeartbeat = (lagMs) => {
    heartbeats.inc();
    lag.observe(Math.max(0, lagMs) / 1000);
  };
  // Counted where they are raised (gateway-alerts.ts); read when scraped.
  new Counter({
    name: "hive_gateway_alerts_total",
    help: "Alerts about who steers a gateway: wrong-controller, epoch-behind (a restored store), unknown-previous",
    labelNames: ["gateway", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of core.gatewayAlerts()) this.inc({ gateway: a.gateway, reason: a.reason }, a.count);
    },
  });
  new Histogram({
    name: "hive_reconcile_seconds",
    help: "Duration of reconcile passes",
    registers: [registry],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  });
  return { registry, heartbeats };
}
