"use strict";
// The gateway's WAL checkpointer, on a worker thread of its own (see wal-checkpointer.ts): its
// own connection to the gateway's database runs a PASSIVE checkpoint every `everyMs`, copying
// committed pages from the WAL into the database file (and fsyncing it) while the gateway's
// thread goes on deciding orders. PASSIVE never blocks the writer: it copies what no reader
// still needs and leaves the rest for the next round. Plain CommonJS so that it runs in a worker
// whatever loader the main thread was started with.
const { parentPort, workerData } = require("node:worker_threads");
const Database = require("better-sqlite3");

const db = new Database(workerData.path, { timeout: 5_000 });
db.pragma("synchronous = FULL");
// This connection never checkpoints on its own commits (it makes none) nor on close: the
// gateway's connection does the last one when it closes.
db.pragma("wal_autocheckpoint = 0");
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");

let timer;
function round() {
  try {
    const [r] = checkpoint.all();
    parentPort.postMessage({ type: "checkpoint", checkpointed: r.checkpointed });
    timer = setTimeout(round, workerData.everyMs);
  } catch (err) {
    parentPort.postMessage({ type: "error", message: String(err && err.message ? err.message : err) });
    db.close();
  }
}
timer = setTimeout(round, workerData.everyMs);

parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
