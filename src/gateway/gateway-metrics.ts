/**
 * The gateway's Prometheus metrics, served at /metrics with --metrics-listen. Counters are read
 * from the core when scraped, so counting costs the order path nothing; batches are observed by
 * the loop.
 */
import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CoreCounters, GatewayCore } from "./gateway-core.ts";
import type { WalCheckpointer } from "./wal-checkpointer.ts";

/** The registry and the loop's hook. */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** Observes one batch. */
  readonly onBatch: (orders: number, seconds: number) => void;
}

/** Builds the metrics of a gateway. */
export function gatewayMetrics(
  core: GatewayCore,
  archive: { readonly rowsArchived: number },
  wal: WalCheckpointer["figures"],
): GatewayMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ component: "gateway" });
  // Counters and gauges read at scrape time from the figures the core, the archiver and the WAL
  // checkpointer keep anyway, so counting costs the order path nothing.
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  const fromCore: [name: string, help: string, count: keyof Omit<CoreCounters, "rejected">][] = [
    ["hive_gateway_orders_accepted_total", "Orders that passed fence, dedupe and risk", "accepted"],
    ["hive_gateway_fills_total", "Fills the broker reported", "fills"],
    ["hive_gateway_fence_changes_total", "Fence entries moved forward", "fenceChanges"],
    ["hive_gateway_fence_refusals_total", "Fence requests refused (epoch not above)", "fenceRefusals"],
    ["hive_gateway_pending_total", "Orders the broker did not answer in time", "pending"],
    [
      "hive_gateway_order_ids_forgotten_total",
      "Consumed client order ids forgotten after their retention (orderIdRetentionDays)",
      "idsForgotten",
    ],
  ];
  for (const [name, help, count] of fromCore) counter(name, help, () => core.counters[count]);
  new Counter({
    name: "hive_gateway_orders_rejected_total",
    help: "Orders not accepted, by reason code",
    labelNames: ["code"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of Object.entries(core.counters.rejected)) this.inc({ code }, n);
    },
  });
  counter(
    "hive_gateway_refusals_summarized_total",
    "Refused orders counted in summary audit rows rather than written in full (auditFullRefusalsPerSecond)",
    () => core.refusalSummaries.refusals,
  );
  counter(
    "hive_gateway_audit_summary_rows_total",
    "Summary audit rows written (one per deployment, account, code and second with refusals past the full rows)",
    () => core.refusalSummaries.rows,
  );
  counter(
    "hive_gateway_audit_rows_archived_total",
    "Audit rows moved from the database to the archive files (auditArchiveAfterDays)",
    () => archive.rowsArchived,
  );
  counter(
    "hive_gateway_wal_restarts_total",
    "RESTART checkpoints that let a WAL past its size limit start over (they hold a commit briefly)",
    () => wal.restarts,
  );
  counter(
    "hive_gateway_wal_restarts_busy_total",
    "RESTART checkpoints given up because a reader or writer held the WAL too long",
    () => wal.restartsBusy,
  );
  gauge("hive_gateway_wal_frames", "Pages in the WAL at the checkpointer's last round", () => wal.walFrames);
  gauge(
    "hive_gateway_wal_restart_longest_seconds",
    "The longest RESTART checkpoint so far, waiting for the lock included",
    () => wal.longestRestartMs / 1000,
  );
  gauge("hive_gateway_accounts", "Accounts the gateway knows", () => core.accounts().length);
  orderIdGauges(registry, core);
  const latency = new Histogram({
    name: "hive_gateway_batch_seconds",
    help: "One batch: decisions, SQLite commit, replies",
    registers: [registry],
    buckets: [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
  });
  const sizes = new Histogram({
    name: "hive_gateway_batch_orders",
    help: "Orders per batch",
    registers: [registry],
    buckets: [0, 1, 4, 16, 64, 256, 1024, 2048],
  });
  return {
    registry,
    onBatch: (orders, seconds) => {
      latency.observe(seconds);
      sizes.observe(orders);
    },
  };
}

/**
 * Retained order ids (order-ids.ts) per account and per deployment, and the share of its cap each
 * uses: an alert on `hive_gateway_order_ids_cap_ratio > 0.8` fires before `order-id-cap` refusals.
 */
function orderIdGauges(registry: Registry, core: GatewayCore): void {
  const scopes = () => [
    ["account", core.orderIds.byAccount()] as const,
    ["deployment", core.orderIds.byDeployment()] as const,
  ];
  new Gauge({
    name: "hive_gateway_order_ids_retained",
    help: "Consumed client order ids retained (not yet past orderIdRetentionDays), per account and per deployment",
    labelNames: ["scope", "id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [scope, { counts }] of scopes()) for (const [id, n] of counts) this.set({ scope, id }, n);
    },
  });
  new Gauge({
    name: "hive_gateway_order_ids_cap_ratio",
    help: "Retained order ids over their cap (maxOrderIdsPerAccount, maxOrderIdsPerDeployment); at 1 new ids are refused order-id-cap",
    labelNames: ["scope", "id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [scope, { counts, cap }] of scopes())
        for (const [id, n] of counts) this.set({ scope, id }, n / cap);
    },
  });
}

/** Serves the registry at /metrics; resolves with the server once it listens. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end("not found; try /metrics\n");
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
