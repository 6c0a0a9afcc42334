import assert from "node:assert/strict";
import { test } from "node:test";
import { buildEnvironment, envSuffix } from "./strategy-environment.ts";

const base = {
  deploymentId: "live-momentum.momentum-7f3a",
  layout: "live-momentum",
  service: "momentum",
  nodeId: "tokyo-3",
  env: { ACCOUNT: "paper-001" },
  localSockets: {
    market_data: "ipc:///run/hive/strategies/d/market_data",
    orders: "ipc:///run/hive/strategies/d/orders",
  },
  ports: { signals: 21005 },
  advertiseHost: "10.1.2.3",
  datasets: { ticks: "/dev/shm/hive/tokyo-3/datasets/es@1" },
};

test("the environment follows the strategy contract", () => {
  assert.deepEqual(buildEnvironment(base), {
    ACCOUNT: "paper-001",
    HIVE_DEPLOYMENT_ID: "live-momentum.momentum-7f3a",
    HIVE_LAYOUT: "live-momentum",
    HIVE_SERVICE: "momentum",
    HIVE_NODE_ID: "tokyo-3",
    HIVE_SOCKET_MARKET_DATA: "ipc:///run/hive/strategies/d/market_data",
    HIVE_SOCKET_ORDERS: "ipc:///run/hive/strategies/d/orders",
    HIVE_PORT_SIGNALS: "21005",
    HIVE_ADDR_SIGNALS: "tcp://10.1.2.3:21005",
    HIVE_DATASET_TICKS: "/dev/shm/hive/tokyo-3/datasets/es@1",
  });
});

test("a manifest cannot forge the HIVE_ variables", () => {
  const env = buildEnvironment({
    ...base,
    env: {
      HIVE_DEPLOYMENT_ID: "someone-else",
      HIVE_SOCKET_ORDERS: "tcp://evil:1",
      HIVE_DATASET_TICKS: "/etc/passwd",
      HIVE_RESULTS_DIR: "/data/results",
      PATH: "/opt/bin",
    },
  });
  assert.equal(env.HIVE_DEPLOYMENT_ID, "live-momentum.momentum-7f3a");
  assert.equal(env.HIVE_SOCKET_ORDERS, "ipc:///run/hive/strategies/d/orders");
  assert.equal(env.HIVE_DATASET_TICKS, "/dev/shm/hive/tokyo-3/datasets/es@1");
  // Variables the runner does not own pass through.
  assert.equal(env.HIVE_RESULTS_DIR, "/data/results");
  assert.equal(env.PATH, "/opt/bin");
});

test("names become upper-case variable suffixes", () => {
  assert.equal(envSuffix("market_data"), "MARKET_DATA");
  assert.equal(envSuffix("l2-book"), "L2_BOOK");
});
