"use strict";
// The gateway's WAL checkpointer, on a worker thread of its own (see wal-checkpointer.ts): its
// own connection to the gateway's database runs a PASSIVE checkpoint every `everyMs`, copying
// committed pages from the WAL into the database file (and fsyncing it) while the gateway's
// thread goes on deciding orders. PASSIVE never blocks the writer: it copies what no reader
// still needs and leaves the rest for the next round. Plain CommonJS so that it runs in a worker
// whatever loader the main thread was started with.
//
// PASSIVE alone never lets the WAL start over under sustained load: SQLite rewinds the WAL only
// when a writer begins after a checkpoint that copied every frame, and by the time a round ends
// the gateway has committed more. So when a round leaves the WAL holding `restartAtFrames` or
// more, a RESTART checkpoint follows it at once: it takes the write lock (the gateway's next
// commit waits), copies the few frames committed since the PASSIVE round, and lets the next
// commit write from the start of the file; `journal_size_limit` then cuts the file back. It
// waits at most `restartWaitMs` for the lock and for readers (a reader that began just before
// the round is waited for with the lock held: the gateway's commits wait as long); if it cannot
// have them, it tries again after the next round. A round that could not copy every frame (a
// reader still needs them) is not followed by a RESTART.
const { parentPort, workerData } = require("node:worker_threads");
const Database = require("better-sqlite3");

const { path, everyMs, restartAtFrames, restartWaitMs, sizeLimitBytes } = workerData;
const db = new Database(path, { timeout: 5_000 });
db.pragma("synchronous = FULL");
// This connection never checkpoints on its own commits (it makes none) nor on close: the
// gateway's connection does the last one when it closes.
db.pragma("wal_autocheckpoint = 0");
db.pragma(`journal_size_limit = ${sizeLimitBytes}`);
const passive = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
const restart = db.prepare("PRAGMA wal_checkpoint(RESTART)");

let timer;
/** The WAL's size (frames) that the last RESTART left: until a commit rewinds it, rounds see it still. */
let restartedAt = -1;
function round() {
  try {
    const [r] = passive.all();
    let restarted = null;
    // Only after a round that copied every frame: a round stopped short by a reader that still
    // needs the WAL (a long `hive gateway audit`) would make the RESTART hold the write lock, and
    // with it the gateway's next commit, while it waits for that reader. And not again on a WAL
    // that no commit has touched since the last one (an idle gateway: nothing to rewind).
    if (r.log >= restartAtFrames && r.checkpointed === r.log && r.log !== restartedAt) {
      const started = performance.now();
      db.pragma(`busy_timeout = ${restartWaitMs}`);
      try {
        const [x] = restart.all();
        restarted = { done: x.busy === 0, ms: performance.now() - started };
        if (x.busy === 0) restartedAt = r.log;
      } finally {
        db.pragma("busy_timeout = 5000");
      }
    }
    parentPort.postMessage({ type: "checkpoint", checkpointed: r.checkpointed, log: r.log, restarted });
    timer = setTimeout(round, everyMs);
  } catch (err) {
    parentPort.postMessage({ type: "error", message: String(err && err.message ? err.message : err) });
    db.close();
  }
}
timer = setTimeout(round, everyMs);

parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
