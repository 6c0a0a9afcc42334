/**
 * npm run bench:order-checks [-- --json] [--orders N] [--rounds N]
 *
 * What the per-order checks of issue 17 cost the runner's order path (order-path.ts), side by
 * side in one run, each variant a real PostOffice in this process, a strategy DEALER on its ipc
 * socket and a gateway stand-in ROUTER on loopback TCP (the test kit's TestGateway):
 *
 *   floor      no lease bound (NO_LEASE_CHECK), the queue bound at its maximum, no rate limit
 *   checked    the lease asked per order (a bound lease with time left), the default queue bound
 *   limited    as checked, plus a rate limit far above the rate reached (every order takes a token)
 *
 * The strategy queues N orders at once; throughput = N / (last order at the gateway − first
 * send). Variants take turns, round after round; the median of the rounds is reported with its
 * ratio to the floor's. No order may be refused in any variant (checked).
 */
import { parseArgs } from "node:util";
import { PostOffice } from "../src/runner/post-office/post-office.ts";
import { ORDER_QUEUE_MS_RANGE } from "../src/runner/post-office/post-office-options.ts";
import {
  routeFor,
  tempRunDir,
  testOrder,
  TestGateway,
  TestStrategy,
  waitFor,
} from "../src/runner/post-office/testing/post-office-kit.ts";

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    orders: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
  },
});
const N = Number(values.orders);
const ROUNDS = Number(values.rounds);

type Variant = "floor" | "checked" | "limited";
const VARIANTS: readonly Variant[] = ["floor", "checked", "limited"];

async function round(variant: Variant, r: number): Promise<number> {
  const runDir = tempRunDir();
  const gateway = new TestGateway();
  const po = new PostOffice({
    runDir: runDir.path,
    maxOrderQueueMs: variant === "floor" ? ORDER_QUEUE_MS_RANGE.max : undefined,
  });
  if (variant !== "floor") po.bindLease({ remainingMs: () => 60_000 });
  let strategy: TestStrategy | undefined;
  try {
    await gateway.bind(false);
    const id = `bench-${variant}-${r}`;
    const endpoints = await po.addDeployment(
      id,
      [{ name: "orders", pattern: "dealer", direction: "consume" }],
      {
        epoch: 1n,
        ordersOpen: true,
        ...(variant === "limited" ? { rateLimit: { ordersPerSecond: 1e9, burst: 1e9 } } : {}),
      },
    );
    strategy = new TestStrategy(endpoints["orders"] ?? "");
    await po.applyRoutes({
      upserts: [routeFor(runDir.path, id, "orders", "dealer", [gateway.address])],
      removals: [],
    });
    await waitFor(() => po.counters()[0]?.connectedRemotes === 1, "connected", 10_000);
    const frames = Array.from({ length: N }, (_, i) => JSON.stringify(testOrder(`o-${i}`)));
    const start = performance.now();
    for (const f of frames) await strategy.dealer.send(f);
    await waitFor(() => gateway.received.length === N, `${N} orders at the gateway (${variant})`, 60_000);
    const ms = performance.now() - start;
    const drops = po.counters()[0]?.drops ?? -1;
    if (drops !== 0) throw new Error(`${variant}: ${drops} orders refused`);
    return (N / ms) * 1_000;
  } finally {
    await strategy?.close();
    await po.close();
    await gateway.close();
    runDir.remove();
  }
}

const rates: Record<Variant, number[]> = { floor: [], checked: [], limited: [] };
for (let r = 0; r < ROUNDS; r++) for (const v of VARIANTS) rates[v].push(await round(v, r));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const floor = median(rates.floor);
const rows = VARIANTS.map((v) => ({
  variant: v,
  ordersPerSec: Math.round(median(rates[v])),
  ratioToFloor: Number((median(rates[v]) / floor).toFixed(3)),
}));
if (values.json) console.log(JSON.stringify({ orders: N, rounds: ROUNDS, rows }));
else {
  console.log(`orders per round: ${N}, rounds: ${ROUNDS} (median)`);
  console.log("variant   orders/s   × floor");
  for (const row of rows)
    console.log(
      `${row.variant.padEnd(9)} ${String(row.ordersPerSec).padStart(9)}   ${row.ratioToFloor.toFixed(3)}`,
    );
}
