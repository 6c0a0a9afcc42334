/**
 * A test helper process (test/dev-cluster.test.ts): `hive dev` stand-in that starts a dev cluster, prints the pids of its processes
 * as one JSON line once the cluster is ready, and then waits to be killed (the test kills it with
 * SIGKILL, so its own clean-up never runs). Run as
 * `node --import tsx src/dev/testing/dev-parent.ts '<DevClusterOptions as JSON>'`.
 */
import { DevCluster, type DevClusterOptions } from "../dev-cluster.ts";

const options = JSON.parse(process.argv[2] ?? "{}") as DevClusterOptions;
const cluster = new DevCluster(options);
await cluster.start();
await cluster.waitReady(60_000);
const names = ["gateway", "orchestrator", ...(options.nodes ?? []).map((n) => n.id)];
process.stdout.write(`${JSON.stringify(Object.fromEntries(names.map((n) => [n, cluster.pidOf(n)])))}\n`);
setInterval(() => undefined, 60_000);
