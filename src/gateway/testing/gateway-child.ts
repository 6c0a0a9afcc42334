/**
 * A gateway in its own process, for the restart tests: `startGateway` with the options given as
 * one JSON argument (plus `prices`: symbol → price applied at start, since prices are not
 * persisted), one JSON line `{event: "ready", ...}` on stdout once it listens, a clean close on
 * SIGTERM. The tests SIGKILL it to show what survives.
 */
import { startGateway, type GatewayOptions } from "../index.ts";

const args = JSON.parse(process.argv[2] ?? "{}") as GatewayOptions & { prices?: Record<string, number> };
const gateway = await startGateway(args);
for (const [symbol, price] of Object.entries(args.prices ?? {})) gateway.setPrice(symbol, price);
process.stdout.write(
  `${JSON.stringify({ event: "ready", orders: gateway.ordersAddress, control: gateway.controlAddress, pid: process.pid })}\n`,
);
const stop = () => {
  void gateway.close().then(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
gateway.failure.catch((err: unknown) => {
  process.stderr.write(`gateway failed: ${String(err)}\n`);
  process.exit(1);
});
