import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { GatewayClient } from "./control-client.ts";
import { startGateway } from "./gateway-server.ts";
import { envelope, OrderClient } from "./testing/order-client.ts";

test("/metrics: the gateway's counters, its id retention and the process's own figures", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-gw-metrics-"));
  const gw = await startGateway({
    stateDir: dir,
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: "tcp://127.0.0.1:0",
    metricsListen: { host: "127.0.0.1", port: 0 },
    insecure: true,
  });
  const control = new GatewayClient({ address: gw.controlAddress });
  const runner = new OrderClient(gw.ordersAddress);
  try {
    gw.setPrice("ESZ6", 100);
    await control.fence("A", "dep-a", 1n);
    await runner.send(envelope("dep-a", 1n, { account: "A", clientOrderId: "m-1" }));
    await runner.next((r) => r.clientOrderId === "m-1" && r.type === "fill", 5_000);
    assert.ok(gw.metricsAddress, "served");
    const text = await (await fetch(gw.metricsAddress)).text();
    assert.match(text, /hive_gateway_orders_accepted_total\{component="gateway"\} 1/);
    assert.match(text, /hive_gateway_order_ids_forgotten_total\{component="gateway"\} 0/);
    // One id retained on account A by dep-a, against the default caps.
    assert.match(text, /hive_gateway_order_ids_retained\{scope="account",id="A",component="gateway"\} 1\n/);
    assert.match(
      text,
      /hive_gateway_order_ids_retained\{scope="deployment",id="dep-a",component="gateway"\} 1\n/,
    );
    assert.match(
      text,
      /hive_gateway_order_ids_cap_ratio\{scope="account",id="A",component="gateway"\} 5e-8\n/,
    );
    assert.match(
      text,
      /hive_gateway_order_ids_cap_ratio\{scope="deployment",id="dep-a",component="gateway"\} 1e-7\n/,
    );
    assert.match(text, /hive_gateway_wal_restarts_total\{component="gateway"\} 0/);
    assert.match(text, /hive_gateway_wal_frames\{component="gateway"\} \d/);
    assert.match(text, /process_cpu_seconds_total\{component="gateway"\} \d/);
    assert.match(text, /nodejs_eventloop_lag_p99_seconds\{component="gateway"\} \d/);
  } finally {
    await runner.close();
    await control.close();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
