import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Gauge, Registry } from "prom-client";
import type { OrderPathFigures, RouteCounters } from "./post-office/index.ts";

/** What the runner's metrics read, at scrape time. */
export interface RunnerMetricsSource {
  readonly nodeId: string;
  /** Deployments by process state. */
  processStates(): Record<string, number>;
  hotDatasets(): readonly { id: string; version: string; bytes: number }[];
  routes(): readonly RouteCounters[];
  heartbeatsSent(): number;
  /** 1 when the runner has no resource limits (no usable cgroups). */
  unlimited(): boolean;
  /** The lease's state, times it was lost and times the live processes were killed for it. */
  lease?(): { readonly state: string; readonly losses: number; readonly kills: number };
}

/** Why an order was not forwarded, as the order path counts it (OrderPathFigures). */
const ORDER_DROP_REASONS = {
  closed: "droppedClosed",
  malformed: "droppedMalformed",
  no_gateway: "droppedNoGateway",
  unreachable: "droppedUnreachable",
  account: "droppedAccount",
  internal: "droppedInternal",
  rate_limited: "droppedRateLimited",
  lease_expired: "droppedLeaseExpired",
  queued_too_long: "droppedQueuedTooLong",
} as const;

/**
 * The runner's Prometheus metrics. Everything is computed when scraped from the runner's own
 * state, so a metric cannot drift from what the runner reports to the orchestrator.
 */
export function runnerMetrics(source: RunnerMetricsSource): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component: "runner", node: source.nodeId });
  new Gauge({
    name: "hive_runner_processes",
    help: "Deployments on this runner by process state",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(source.processStates())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "hive_runner_dataset_bytes",
    help: "Datasets hot in RAM, by id and version",
    labelNames: ["dataset"],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of source.hotDatasets()) this.set({ dataset: `${d.id}@${d.version}` }, d.bytes);
    },
  });
  const route = (name: string, help: string, pick: (r: RouteCounters) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["deployment", "socket", "kind"],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of source.routes())
          this.set({ deployment: r.deploymentId, socket: r.socket, kind: r.kind }, pick(r));
      },
    });
  route(
    "hive_route_messages",
    "Messages through a route: orders forwarded, market-data messages written to the strategy",
    (r) => r.messages,
  );
  route("hive_route_bytes", "Bytes through a route", (r) => r.bytes);
  route(
    "hive_route_drops",
    "Messages dropped on a route: orders not forwarded, market data past the high-water mark",
    (r) => r.drops,
  );
  route(
    "hive_route_connected_remotes",
    "Remotes of a route whose connection is up",
    (r) => r.connectedRemotes,
  );
  /** A gauge per order path (deployment, socket), from its figures. */
  const orderPath = (name: string, help: string, pick: (o: OrderPathFigures) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["deployment", "socket"],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of source.routes())
          if (r.orders !== undefined)
            this.set({ deployment: r.deploymentId, socket: r.socket }, pick(r.orders));
      },
    });
  orderPath(
    "hive_order_path_open",
    "1 while an order path forwards orders (open, and the runner holds its lease)",
    (o) => (o.open ? 1 : 0),
  );
  new Gauge({
    name: "hive_order_path_drops",
    help: "Orders not forwarded to the gateway, by reason (each got a reject reply)",
    labelNames: ["deployment", "socket", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of source.routes()) {
        if (r.orders === undefined) continue;
        for (const [reason, field] of Object.entries(ORDER_DROP_REASONS)) {
          this.set({ deployment: r.deploymentId, socket: r.socket, reason }, r.orders[field]);
        }
      }
    },
  });
  orderPath(
    "hive_order_path_strategy_disconnects",
    "Strategy connections to an order socket that closed: the strategy closed it or exited, or sent a frame over the runner's order size limit (closed unread, no reply)",
    (o) => o.strategyDisconnects,
  );
  new Gauge({
    name: "hive_runner_self_fences",
    help: "Times the runner's lease ran out and it closed its live deployments' order paths",
    registers: [registry],
    collect() {
      this.set(source.lease?.().losses ?? 0);
    },
  });
  new Gauge({
    name: "hive_runner_self_fence_kills",
    help: "Times the lease stayed lost past the grace and the runner killed its live deployments",
    registers: [registry],
    collect() {
      this.set(source.lease?.().kills ?? 0);
    },
  });
  new Gauge({
    name: "hive_runner_lease_held",
    help: "1 while the runner holds its lease from the orchestrator (order paths may be open)",
    registers: [registry],
    collect() {
      this.set(source.lease?.().state === "held" ? 1 : 0);
    },
  });
  new Gauge({
    name: "hive_runner_heartbeats_sent",
    help: "Heartbeats sent to the orchestrator since the runner started",
    registers: [registry],
    collect() {
      this.set(source.heartbeatsSent());
    },
  });
  new Gauge({
    name: "hive_runner_unlimited",
    help: "1 when processes run without resource limits (no usable cgroups)",
    registers: [registry],
    collect() {
      this.set(source.unlimited() ? 1 : 0);
    },
  });
  return registry;
}

/** Serves a registry at GET /metrics on host:port; resolves with the server and its URL. */
export async function serveMetrics(
  registry: Registry,
  at: { host: string; port: number },
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end("not found: GET /metrics\n");
      return;
    }
    registry
      .metrics()
      .then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text))
      .catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${at.host}:${port}/metrics` };
}
