/**
 * The gateway of the fault tests as its own process: `startGateway` with the options given as one
 * JSON argument, one JSON line `{event: "gateway-ready", ...}` on stdout when it listens, a clean
 * close on SIGTERM. (The same daemon `hive gateway` runs; a JSON argument keeps the kit independent
 * of the CLI's flags.)
 */
import { startGateway } from "../../../src/gateway/index.ts";
import { createLogger } from "../../../src/core/logger.ts";

const options = JSON.parse(process.argv[2] ?? "{}") as Parameters<typeof startGateway>[0];
const gateway = await startGateway({ ...options, log: createLogger("gateway") });
console.log(
  JSON.stringify({
    event: "gateway-ready",
    orders: gateway.ordersAddress,
    control: gateway.controlAddress,
    publicKey: gateway.publicKey,
  }),
);
const stop = () => {
  void gateway.close().then(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
gateway.failure.catch((err: unknown) => {
  console.error(JSON.stringify({ event: "gateway-failed", err: String(err) }));
  process.exit(1);
});
