/**
 * The audit archive against a real SQLite file and real files: old rows move to gzipped files
 * and out of the table, readers see one log (no row lost, none twice, queries across the
 * boundary), a crash between the file and the delete is repaired, a failure leaves the rows where
 * they were, and a running gateway archives its own rows while its idempotency is untouched.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { pino } from "pino";
import { memoryIo } from "../cli/io.ts";
import { main } from "../cli/main.ts";
import { tempDirs } from "../core/testing/temp-dirs.ts";
import { silentLogger } from "../core/logger.ts";
import { queryAudit, type AuditRecord } from "./audit.ts";
import {
  ARCHIVE_DIR,
  archiveFileName,
  archivedThroughSeq,
  AuditArchiver,
  listArchive,
  MAX_ROWS_PER_FILE,
  readAudit,
} from "./audit-archive.ts";
import { GatewayClient } from "./control-client.ts";
import { openGatewayDb, writeMeta, type GatewayDb } from "./gateway-db.ts";
import { startGateway } from "./gateway-server.ts";
import { GatewayStatements } from "./gateway-statements.ts";
import { envelope, OrderClient } from "./testing/order-client.ts";

const dirs = tempDirs();
/** Databases the tests opened, closed at the end (closing is idempotent). */
const opened: GatewayDb[] = [];
after(() => {
  for (const state of opened) state.close();
  dirs.removeAll();
});

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 10, 1);

/** A state directory whose audit table holds `old` rows decided around T0 and `recent` 10 days later. */
function stateWith(old: number, recent: number): { dir: string; state: GatewayDb; rows: AuditRecord[] } {
  const dir = dirs.make("hive-archive-");
  const state = openGatewayDb(dir);
  opened.push(state);
  const sql = new GatewayStatements(state.db);
  state.db.transaction(() => {
    for (let i = 0; i < old + recent; i++) {
      const decidedAtMs = i < old ? T0 + i : T0 + 10 * DAY + i;
      sql.audit({
        kind: "order",
        outcome: "accepted",
        code: null,
        account: i % 2 === 0 ? "A" : "B",
        clientOrderId: `o-${i}`,
        deploymentId: "dep",
        epoch: "1",
        detail: JSON.stringify({ i, text: "é ✓" }),
        receivedAtMs: decidedAtMs - 1,
        decidedAtMs,
      });
    }
  })();
  return { dir, state, rows: queryAudit(state.db) };
}

function archiver(dir: string, state: GatewayDb, now = T0 + 10 * DAY - 1, log = silentLogger()) {
  return new AuditArchiver({ db: state.db, dir: join(dir, ARCHIVE_DIR), afterMs: DAY, now: () => now, log });
}

describe("audit archive", () => {
  test("rows past the cutoff move to a file; readers see the same log, across the boundary", async () => {
    const { dir, state, rows } = stateWith(2_000, 500);
    const a = archiver(dir, state);
    assert.equal(await a.archiveNow(), 2_000);
    assert.equal(a.rowsArchived, 2_000);
    const files = listArchive(join(dir, ARCHIVE_DIR));
    assert.deepEqual(
      files.map((f) => [f.firstSeq, f.lastSeq]),
      [[1, 2_000]],
    );
    assert.ok(files[0]?.path.endsWith(archiveFileName(1, 2_000)));
    const left = queryAudit(state.db);
    assert.equal(left.length, 500);
    assert.equal(left[0]?.seq, 2_001);

    assert.deepEqual(readAudit(dir), rows);
    assert.deepEqual(
      readAudit(dir, { afterSeq: 1_990, limit: 20 }).map((r) => r.seq),
      rows.slice(1_990, 2_010).map((r) => r.seq),
    );
    assert.deepEqual(
      readAudit(dir, { account: "B", afterSeq: 1_995, limit: 4 }).map((r) => r.clientOrderId),
      ["o-1995", "o-1997", "o-1999", "o-2001"],
    );
    assert.deepEqual(readAudit(dir, { afterSeq: 2_400 }), rows.slice(2_400));

    // Nothing more is due: no second file.
    assert.equal(await a.archiveNow(), 0);
    assert.equal(listArchive(join(dir, ARCHIVE_DIR)).length, 1);
    await a.close();
  });

  test(`a backlog is cut into files of at most ${MAX_ROWS_PER_FILE} rows`, async () => {
    const { dir, state, rows } = stateWith(MAX_ROWS_PER_FILE + 1_234, 10);
    const a = archiver(dir, state);
    assert.equal(await a.archiveNow(), MAX_ROWS_PER_FILE + 1_234);
    assert.deepEqual(
      listArchive(join(dir, ARCHIVE_DIR)).map((f) => [f.firstSeq, f.lastSeq]),
      [
        [1, MAX_ROWS_PER_FILE],
        [MAX_ROWS_PER_FILE + 1, MAX_ROWS_PER_FILE + 1_234],
      ],
    );
    assert.equal(queryAudit(state.db).length, 10);
    assert.deepEqual(readAudit(dir), rows);
    await a.close();
  });

  /** Puts rows back in the table with their seq, as a crash before their delete leaves them. */
  function putBack(state: GatewayDb, rows: readonly AuditRecord[]): void {
    const insert = state.db.prepare(
      "INSERT INTO audit (seq, kind, outcome, code, account, client_order_id, deployment_id, epoch, detail, received_at_ms, decided_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    for (const r of rows)
      insert.run(
        r.seq,
        r.kind,
        r.outcome,
        r.code,
        r.account,
        r.clientOrderId,
        r.deploymentId,
        r.epoch,
        r.detail,
        r.receivedAtMs,
        r.decidedAtMs,
      );
  }

  test("a crash after the archived-through mark and before the delete: no row read twice, the next step deletes them", async () => {
    const { dir, state, rows } = stateWith(300, 100);
    assert.equal(await archiver(dir, state).archiveNow(), 300);
    assert.equal(archivedThroughSeq(state.db), 300);
    // The archived rows back in the table, and a temporary file, as a crash during a write leaves it.
    putBack(state, rows.slice(0, 300));
    const tmp = join(dir, ARCHIVE_DIR, `${archiveFileName(301, 400)}.tmp`);
    writeFileSync(tmp, "half a file");
    assert.equal(queryAudit(state.db).length, 400);
    assert.deepEqual(readAudit(dir), rows, "each row once, in order");

    assert.equal(await archiver(dir, state).archiveNow(), 0, "nothing new to archive");
    assert.equal(queryAudit(state.db)[0]?.seq, 301, "the rows already archived are gone from the table");
    assert.ok(!existsSync(tmp), "the temporary file is removed");
    assert.deepEqual(readAudit(dir), rows);
    assert.equal(state.db.pragma("synchronous", { simple: true }), 2, "synchronous is FULL again");
  });

  test("a crash after the rename and before the mark: the file is checked against the table and adopted", async () => {
    const { dir, state, rows } = stateWith(300, 100);
    assert.equal(await archiver(dir, state).archiveNow(), 300);
    // As if the mark had not been written: the file is there, the rows too.
    writeMeta(state.db, "auditArchivedThrough", "0");
    putBack(state, rows.slice(0, 300));
    assert.deepEqual(readAudit(dir), rows, "readers take the table past the mark: each row once");

    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    assert.equal(await archiver(dir, state, T0 + 10 * DAY - 1, log).archiveNow(), 0);
    assert.match(lines.join(""), /audit archive files adopted/);
    assert.equal(archivedThroughSeq(state.db), 300);
    assert.equal(queryAudit(state.db)[0]?.seq, 301, "the adopted file's rows are deleted");
    assert.equal(listArchive(join(dir, ARCHIVE_DIR)).length, 1, "not archived a second time");
    assert.deepEqual(readAudit(dir), rows);
  });

  test("a power loss that undid the marks of two files: both are checked against the table and adopted", async () => {
    const { dir, state, rows } = stateWith(MAX_ROWS_PER_FILE + 1_234, 10);
    assert.equal(await archiver(dir, state).archiveNow(), MAX_ROWS_PER_FILE + 1_234);
    assert.equal(listArchive(join(dir, ARCHIVE_DIR)).length, 2);
    writeMeta(state.db, "auditArchivedThrough", "0");
    putBack(state, rows.slice(0, MAX_ROWS_PER_FILE + 1_234));
    assert.equal(await archiver(dir, state).archiveNow(), 0);
    assert.equal(archivedThroughSeq(state.db), MAX_ROWS_PER_FILE + 1_234);
    assert.equal(queryAudit(state.db).length, 10, "the adopted files' rows are deleted");
    assert.deepEqual(readAudit(dir), rows);
  });

  test("an archive made before the mark existed (rows already deleted, no mark) is adopted", async () => {
    const { dir, state, rows } = stateWith(300, 100);
    assert.equal(await archiver(dir, state).archiveNow(), 300);
    state.db.prepare("DELETE FROM meta WHERE key = 'auditArchivedThrough'").run();
    assert.equal(await archiver(dir, state).archiveNow(), 0);
    assert.equal(archivedThroughSeq(state.db), 300);
    assert.deepEqual(readAudit(dir), rows);
  });

  test("a database made afresh under an old archive: archiving stops with an error and deletes nothing", async () => {
    const old = stateWith(300, 0);
    assert.equal(await archiver(old.dir, old.state).archiveNow(), 300);
    old.state.close();
    // A new database in the same state directory (a restore, or a lost file), with rows of its own.
    rmSync(join(old.dir, "gateway.db"));
    rmSync(join(old.dir, "gateway.db-wal"), { force: true });
    rmSync(join(old.dir, "gateway.db-shm"), { force: true });
    const state = openGatewayDb(old.dir);
    opened.push(state);
    const sql = new GatewayStatements(state.db);
    for (let i = 0; i < 20; i++)
      sql.audit({ ...old.rows[i]!, clientOrderId: `new-${i}`, decidedAtMs: T0 + i });
    const mine = queryAudit(state.db);
    const lines: string[] = [];
    const log = pino({ level: "error" }, { write: (line: string) => void lines.push(line) });
    assert.equal(await archiver(old.dir, state, T0 + 10 * DAY - 1, log).archiveNow(), 0);
    assert.match(lines.join(""), /does not match its rows.*Archiving is stopped and no row is deleted/);
    assert.deepEqual(queryAudit(state.db), mine, "every row of the new database kept");
    assert.deepEqual(readAudit(old.dir), mine, "readers show this database's rows, not the old archive's");
  });

  test("archive files an operator removed are not archived again, nor read", async () => {
    const { dir, state, rows } = stateWith(300, 100);
    assert.equal(await archiver(dir, state).archiveNow(), 300);
    for (const f of listArchive(join(dir, ARCHIVE_DIR))) rmSync(f.path);
    assert.equal(await archiver(dir, state).archiveNow(), 0);
    assert.equal(listArchive(join(dir, ARCHIVE_DIR)).length, 0);
    assert.deepEqual(readAudit(dir), rows.slice(300), "the table above the mark; the kept row once");
  });

  test("when every row is archived, the last stays in the table so seq never starts again at 1", async () => {
    const { dir, state, rows } = stateWith(100, 0);
    assert.equal(await archiver(dir, state).archiveNow(), 100);
    assert.deepEqual(
      queryAudit(state.db).map((r) => r.seq),
      [100],
    );
    assert.deepEqual(readAudit(dir), rows, "the kept row is read once");
    new GatewayStatements(state.db).audit({
      ...rows[0]!,
      clientOrderId: "next",
      decidedAtMs: T0 + 20 * DAY,
    });
    assert.deepEqual(
      readAudit(dir, { afterSeq: 99 }).map((r) => [r.seq, r.clientOrderId]),
      [
        [100, "o-99"],
        [101, "next"],
      ],
    );
    // The next step deletes the kept row: it is not the last any more.
    assert.equal(await archiver(dir, state).archiveNow(), 0);
    assert.deepEqual(
      queryAudit(state.db).map((r) => r.seq),
      [101],
    );
  });

  test("hive gateway audit: the archive and the table as one log; a removed file is a note on stderr", async () => {
    const { dir, state, rows } = stateWith(MAX_ROWS_PER_FILE + 10, 5);
    assert.equal(await archiver(dir, state).archiveNow(), MAX_ROWS_PER_FILE + 10);
    state.close();
    const cli = async (...args: string[]) => {
      const io = memoryIo();
      const code = await main(["node", "hive", "gateway", "audit", "--state", dir, ...args], io);
      return { code, out: io.stdout, err: io.stderr.join("\n") };
    };
    const all = await cli("--json", "--after", String(MAX_ROWS_PER_FILE - 3));
    assert.equal(all.code, 0);
    assert.deepEqual(
      all.out.map((line) => (JSON.parse(line) as AuditRecord).seq),
      rows.slice(MAX_ROWS_PER_FILE - 3).map((r) => r.seq),
    );
    assert.equal(all.err, "");
    // The first file shipped elsewhere and removed.
    rmSync(listArchive(join(dir, ARCHIVE_DIR))[0]!.path);
    const rest = await cli("--limit", "3");
    assert.equal(rest.out.length, 3);
    assert.match(rest.out[0] ?? "", new RegExp(`^${MAX_ROWS_PER_FILE + 1} `));
    assert.match(rest.err, new RegExp(`note: seq 1–${MAX_ROWS_PER_FILE} are not in ${dir}`));
  });

  test("a damaged archive file is named by readers", () => {
    const dir = dirs.make("hive-archive-bad-");
    const state = openGatewayDb(dir);
    writeMeta(state.db, "auditArchivedThrough", "2");
    state.close();
    const archive = join(dir, ARCHIVE_DIR);
    const name = archiveFileName(1, 2);
    mkdirSync(archive);
    writeFileSync(join(archive, name), gzipSync('{"seq":1}\nnot json\n'));
    assert.throws(() => readAudit(dir), new RegExp(`${name}, line 2: not a JSON audit record`));
    writeFileSync(join(archive, name), "not gzip");
    assert.throws(() => readAudit(dir), new RegExp(`${name}: cannot read it`));
  });

  test("when the archive cannot be written, the rows stay in the database and the error is logged", async () => {
    const { dir, state, rows } = stateWith(50, 5);
    const lines: string[] = [];
    const log = pino({ level: "error" }, { write: (line: string) => void lines.push(line) });
    // The archive's path is a file: no directory can be made there (root or not).
    writeFileSync(join(dir, ARCHIVE_DIR), "in the way");
    const a = archiver(dir, state, T0 + 10 * DAY - 1, log);
    assert.equal(await a.archiveNow(), 0);
    assert.deepEqual(queryAudit(state.db), rows);
    assert.match(lines.join(""), /archiving audit rows failed/);
    await a.close();
  });

  test("a running gateway archives its rows; readers and the control op see them; ids stay consumed", async () => {
    const dir = dirs.make("hive-archive-gw-");
    let clock = Date.now();
    const logged: string[] = [];
    const start = () =>
      startGateway({
        stateDir: dir,
        ordersListen: "tcp://127.0.0.1:0",
        controlListen: "tcp://127.0.0.1:0",
        insecure: true,
        config: { auditArchiveAfterDays: 1, maxOrderAgeMs: 0 },
        now: () => clock,
        log: pino({ level: "warn" }, { write: (line: string) => void logged.push(line) }),
      });
    let gw = await start();
    let control = new GatewayClient({ address: gw.controlAddress });
    let runner = new OrderClient(gw.ordersAddress);
    try {
      gw.setPrice("ESZ6", 100);
      await control.fence("ACC", "dep-1", 1n);
      for (let i = 0; i < 5; i++)
        await runner.send(envelope("dep-1", 1n, { account: "ACC", clientOrderId: `old-${i}` }));
      await runner.next((r) => r.clientOrderId === "old-4" && r.type === "fill");
      const before = readAudit(dir);
      assert.equal(before.filter((r) => r.kind === "order" && r.outcome === "accepted").length, 5);

      // The step the gateway ran at start is over (steps are queued), and nothing was due yet.
      assert.equal(await gw.archiveAudit(), 0);
      clock += 2 * 24 * 60 * 60 * 1000;
      assert.equal(await gw.archiveAudit(), before.length, logged.join(""));
      assert.equal(listArchive(join(dir, ARCHIVE_DIR)).length, 1);

      await runner.send(envelope("dep-1", 1n, { account: "ACC", clientOrderId: "new-0" }));
      await runner.next((r) => r.clientOrderId === "new-0" && r.type === "fill");
      const all = readAudit(dir);
      assert.deepEqual(all.slice(0, before.length), before);
      assert.ok(all.some((r) => r.clientOrderId === "new-0" && r.outcome === "accepted"));
      assert.deepEqual(
        await control.audit({ limit: 10_000 }),
        all.slice(before.length),
        "the control op answers from the table: the rows not archived yet",
      );

      const seqs = all.map((r) => r.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        "seq keeps growing after the table was emptied",
      );
      assert.equal(new Set(seqs).size, seqs.length);

      // After a restart: nothing archived twice, and an archived order's id is still consumed.
      await runner.close();
      await control.close();
      await gw.close();
      gw = await start();
      control = new GatewayClient({ address: gw.controlAddress });
      runner = new OrderClient(gw.ordersAddress);
      assert.equal(await gw.archiveAudit(), 0);
      await runner.send(envelope("dep-1", 1n, { account: "ACC", clientOrderId: "old-2" }));
      const again = await runner.next((r) => r.clientOrderId === "old-2");
      assert.equal(again.type, "duplicate");
    } finally {
      await runner.close();
      await control.close();
      await gw.close();
    }
  });
});
