/**
 * npm run bench:audit-archive [-- --json] [--rows N]
 *
 * What archiving the audit log (src/gateway/audit-archive.ts) costs the gateway's thread, which
 * is the thread that decides orders. A state directory is filled with N audit rows as the gateway
 * writes them (an accepted order and its fill, alternating; its pragmas, its checkpointer), then,
 * side by side in one run:
 *  - `idle`: the event loop doing nothing but the probe, for as long as the archiving took;
 *  - `archiving`: the archiver moving every row to files.
 * The probe is a 1 ms timer; its lateness (how long after it was due it ran) is how long an order
 * arriving at that moment would have waited for the thread. Also: rows/s archived, and the bytes
 * of the files against the bytes of the rows' JSON.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../src/core/logger.ts";
import { ARCHIVE_DIR, AuditArchiver, listArchive } from "../src/gateway/audit-archive.ts";
import { queryAudit } from "../src/gateway/audit.ts";
import { openGatewayDb } from "../src/gateway/gateway-db.ts";
import { GatewayStatements } from "../src/gateway/gateway-statements.ts";
import { WalCheckpointer } from "../src/gateway/wal-checkpointer.ts";
import { msStats } from "./stats.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const rowsArg = args.indexOf("--rows");
const rows = rowsArg >= 0 ? Number(args[rowsArg + 1]) : 200_000;
if (!Number.isInteger(rows) || rows < 1000) throw new Error(`--rows: expected a whole number ≥ 1000`);

/** Lateness samples of a 1 ms timer while `during` runs (or for `ms` when idle). */
async function probe(during: (() => Promise<unknown>) | number): Promise<number[]> {
  const late: number[] = [];
  let due = performance.now() + 1;
  let stop = false;
  const tick = () => {
    const now = performance.now();
    late.push(Math.max(0, now - due));
    due = now + 1;
    if (!stop) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  if (typeof during === "number") await new Promise((r) => setTimeout(r, during));
  else await during();
  stop = true;
  await new Promise((r) => setTimeout(r, 5));
  return late;
}

const dir = mkdtempSync(join(tmpdir(), "hive-bench-archive-"));
const state = openGatewayDb(dir);
const checkpointer = new WalCheckpointer(state.db, state.path, silentLogger());
try {
  const sql = new GatewayStatements(state.db);
  const t0 = Date.now() - 30 * 24 * 60 * 60 * 1000;
  process.stderr.write(`filling ${rows.toLocaleString("en-US")} audit rows...\n`);
  for (let i = 0; i < rows; i += 1000) {
    state.db.transaction(() => {
      for (let j = i; j < Math.min(rows, i + 1000); j++) {
        const id = `live-momentum.momentum-oqxfj3-mwvg8yye-${j >> 1}`;
        const at = t0 + j;
        const order = j % 2 === 0;
        sql.audit({
          kind: order ? "order" : "fill",
          outcome: order ? "accepted" : "filled",
          code: null,
          account: "paper-001",
          clientOrderId: id,
          deploymentId: "live-momentum.momentum-oqxfj3",
          epoch: "7",
          detail: order
            ? `{"deploymentId":"live-momentum.momentum-oqxfj3","epoch":"7","account":"paper-001","clientOrderId":"${id}","sentAtUnixMs":${at},"order":{"account":"paper-001","clientOrderId":"${id}","symbol":"ESZ6","side":"buy","qty":1,"type":"market"}}`
            : `{"type":"fill","account":"paper-001","clientOrderId":"${id}","symbol":"ESZ6","side":"buy","qty":1,"price":4523.25,"fillId":"pf-${j}"}`,
          receivedAtMs: order ? at : null,
          decidedAtMs: at,
        });
      }
    })();
  }
  const jsonBytes = queryAudit(state.db, { limit: 1000 }).reduce(
    (sum, r) => sum + Buffer.byteLength(JSON.stringify(r)) + 1,
    0,
  );
  const archiver = new AuditArchiver({
    db: state.db,
    dir: join(dir, ARCHIVE_DIR),
    afterMs: 24 * 60 * 60 * 1000,
    now: Date.now,
    log: silentLogger(),
  });
  process.stderr.write("archiving...\n");
  let archived = 0;
  const started = performance.now();
  const busy = await probe(async () => {
    archived = await archiver.archiveNow();
  });
  const seconds = (performance.now() - started) / 1000;
  const idle = await probe(Math.round(seconds * 1000));
  await archiver.close();
  const files = listArchive(join(dir, ARCHIVE_DIR));
  const fileBytes = files.reduce((sum, f) => sum + statSync(f.path).size, 0);
  const report = {
    rows: archived,
    files: files.length,
    seconds: Math.round(seconds * 1000) / 1000,
    rowsPerSecond: Math.round(archived / seconds),
    gzipRatio: Math.round((fileBytes / ((jsonBytes / 1000) * archived)) * 1000) / 1000,
    lateness: { idle: msStats(idle), archiving: msStats(busy) },
  };
  if (json) {
    console.log(JSON.stringify(report));
  } else {
    const row = (name: string, a: string | number, b: string | number, c = "") =>
      console.log(`${name.padEnd(30)}${String(a).padStart(12)}${String(b).padStart(14)}${c.padStart(17)}`);
    console.log(
      `\naudit archive: ${archived.toLocaleString("en-US")} rows in ${files.length} files, ${report.seconds} s ` +
        `(${report.rowsPerSecond.toLocaleString("en-US")} rows/s), files ${(report.gzipRatio * 100).toFixed(1)}% of the JSON\n`,
    );
    row("1 ms timer lateness", "idle", "archiving", "archiving/idle");
    for (const k of ["p50Ms", "p99Ms", "maxMs"] as const) {
      const i = report.lateness.idle[k];
      const b = report.lateness.archiving[k];
      row(`  ${k.replace("Ms", "")} ms`, i.toFixed(2), b.toFixed(2), i > 0 ? (b / i).toFixed(2) : "-");
    }
    row("  samples", report.lateness.idle.n, report.lateness.archiving.n);
  }
} finally {
  await checkpointer.close();
  state.close();
  rmSync(dir, { recursive: true, force: true });
}
