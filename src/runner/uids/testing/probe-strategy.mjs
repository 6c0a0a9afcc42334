// A strategy that tries what a deployment must not be able to do, and reports each outcome (the
// error code, or "ok") as JSON to $PROBE_OUT; then it waits to be stopped. Run by
// strategies-without-root.test.ts under a deployment's own uid.
import { readFileSync, readdirSync, renameSync, writeFileSync, openSync, closeSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";

const env = process.env;
const outcome = (f) => {
  try {
    f();
    return "ok";
  } catch (err) {
    return err.code ?? String(err);
  }
};
const connectTo = (path) =>
  new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve("ok");
    });
    socket.once("error", (err) => resolve(err.code ?? String(err)));
  });
const status = readFileSync("/proc/self/status", "utf8");
const line = (name) => status.split("\n").find((l) => l.startsWith(`${name}:`)) ?? "";
const dataset = env.HIVE_DATASET_TICKS ?? "";
const report = {
  uid: line("Uid"),
  gid: line("Gid"),
  groups: line("Groups"),
  ownSocket: await connectTo(env.HIVE_SOCKET_MARKET_DATA.slice("ipc://".length)),
  otherSocket: await connectTo(env.PROBE_OTHER_SOCKET),
  curveKey: outcome(() => readFileSync(env.PROBE_KEY)),
  record: outcome(() => readFileSync(env.PROBE_RECORD)),
  listStrategies: outcome(() => readdirSync(env.PROBE_STRATEGIES)),
  listRun: outcome(() => readdirSync(env.PROBE_RUN)),
  listState: outcome(() => readdirSync(env.PROBE_STATE)),
  otherEnviron: outcome(() => readFileSync(`/proc/${env.PROBE_OTHER_PID}/environ`)),
  datasetRead: outcome(() => readFileSync(dataset)),
  datasetWrite: outcome(() => closeSync(openSync(dataset, "r+"))),
  datasetCreate: outcome(() => writeFileSync(join(dirname(dataset), "planted"), "x")),
  home: env.HOME,
  homeWrite: outcome(() => writeFileSync(join(env.HOME, "scratch"), "x")),
};
writeFileSync(`${env.PROBE_OUT}.tmp`, JSON.stringify(report));
renameSync(`${env.PROBE_OUT}.tmp`, env.PROBE_OUT);
process.on("SIGTERM", () => process.exit(0));
setInterval(() => {}, 1000);
