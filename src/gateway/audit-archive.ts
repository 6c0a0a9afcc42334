/**
 * The audit log's archive. A gateway that trades for months must not keep every audit row in its
 * database (two rows per filled order: the file, its WAL and every start would grow without end),
 * and it must not lose one either. So rows older than `auditArchiveAfterDays` (default 7) leave
 * the database for gzipped JSON-lines files in `<state>/audit-archive/`. `hive gateway audit` and
 * `readAudit` read the files and the table as one log. The control op `audit` answers from the
 * table only (`queryUnarchived`): the gateway's thread never reads the files, which would hold up
 * orders for the time of a gunzip.
 *
 * A file holds a run of rows in `seq` order and is named by its first and last seq, twelve digits
 * each so that names sort as numbers: `audit-000000000001-000000050000.jsonl.gz`. Each line is one
 * AuditRecord as `hive gateway audit --json` prints it. Files are never rewritten: ship them to
 * long-term storage as they appear (and delete them here once shipped, if you like: readers then
 * start at the first file left).
 *
 * How far the archive goes is the database's to say, not the files': the meta key
 * `auditArchivedThrough` (the last seq archived). So a database restored from a backup, or made
 * afresh, under an old archive directory is noticed (the files go past what it has archived, and
 * their rows do not match its own) and archiving stops with an error instead of deleting rows
 * the files do not hold; and files an operator removed change nothing.
 *
 * One archiving step, in this order, so that a crash anywhere loses no row and no reader sees one
 * twice:
 *   1. read the oldest rows above `auditArchivedThrough`, in seq order, up to the first one
 *      decided after the cutoff (at most MAX_ROWS_PER_FILE), a chunk at a time, each chunk into a
 *      gzip stream, yielding to the event loop between chunks;
 *   2. write the file as `<name>.tmp`, fsync it, rename it to its name, fsync the directory;
 *   3. set `auditArchivedThrough` to its last seq;
 *   4. delete its rows from the table, a chunk per transaction, yielding between chunks.
 * Steps 3 and 4 commit without an fsync of their own (a WAL keeps commits in order, so a delete
 * that survives a crash implies the step 3 before it survived too; the next batch's commit, or the
 * WAL checkpointer's next round, fsyncs them). A crash between 2 and 3 (or a power loss that undid
 * several marks) leaves files past `auditArchivedThrough` whose rows are still in the table: the
 * next step checks that they match, a chunk at a time, and adopts them. A crash during 2 leaves a
 * `.tmp` file, deleted by the next step. Readers take `auditArchivedThrough` and the table above it
 * from one read snapshot, then the files up to it: a row deleted before their snapshot is in a
 * file renamed before it, so none is missed or read twice. Steps run on the gateway's thread (one
 * connection, as every write of the gateway), every ARCHIVE_EVERY_MS and at start; chunks keep
 * each hold of the thread to a few milliseconds (`npm run bench:audit-archive`).
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { once } from "node:events";
import { promisify } from "node:util";
import { createGzip, gunzip, gunzipSync } from "node:zlib";
import type Database from "better-sqlite3";
import { fsyncDirectory } from "../core/fsync.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { queryAudit, type AuditQuery, type AuditRecord } from "./audit.ts";
import { openGatewayDbReadOnly, readMeta, writeMeta } from "./gateway-db.ts";

/** The archive's directory inside a gateway state directory. */
export const ARCHIVE_DIR = "audit-archive";

/** Most rows in one archive file (about 10–30 MB before gzip). */
export const MAX_ROWS_PER_FILE = 50_000;

/** How often a running gateway looks for rows to archive. */
export const ARCHIVE_EVERY_MS = 60_000;

/** The meta key holding the last seq archived. */
const THROUGH_KEY = "auditArchivedThrough";

/** The last seq archived, as the database says (0: none). */
export function archivedThroughSeq(db: Database.Database): number {
  return Number(readMeta(db, THROUGH_KEY) ?? 0);
}

/** Rows read (and encoded) between two yields to the event loop. */
const READ_CHUNK = 250;
/** Rows deleted per transaction. */
const DELETE_CHUNK = 1_000;
/** A row decided this far in the future is worth a warning (the clock went back meanwhile). */
const CLOCK_SLACK_MS = 60_000;

const gunzipAsync = promisify(gunzip);
const FILE_NAME = /^audit-(\d{12})-(\d{12})\.jsonl\.gz$/;

/** One archive file. */
export interface ArchiveFile {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly path: string;
}

/** The name of the file holding rows `firstSeq`..`lastSeq`. */
export function archiveFileName(firstSeq: number, lastSeq: number): string {
  const pad = (n: number) => String(n).padStart(12, "0");
  return `audit-${pad(firstSeq)}-${pad(lastSeq)}.jsonl.gz`;
}

/** The archive files of `dir`, oldest first; none if the directory does not exist. */
export function listArchive(dir: string): ArchiveFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `audit archive ${dir}: cannot list it: ${String(err)}`,
      {
        cause: err,
      },
    );
  }
  const files: ArchiveFile[] = [];
  for (const name of names) {
    const m = FILE_NAME.exec(name);
    if (m !== null) files.push({ firstSeq: Number(m[1]), lastSeq: Number(m[2]), path: join(dir, name) });
  }
  return files.sort((a, b) => a.firstSeq - b.firstSeq);
}

/**
 * Reads archived rows matching `query` (seq after `afterSeq` and up to `throughSeq`, the account,
 * at most `limit`).
 */
export function readArchive(
  dir: string,
  query: AuditQuery & { readonly throughSeq?: number } = {},
): AuditRecord[] {
  const after = query.afterSeq ?? 0;
  const through = query.throughSeq ?? Number.POSITIVE_INFINITY;
  const limit = query.limit ?? Number.POSITIVE_INFINITY;
  const out: AuditRecord[] = [];
  for (const file of listArchive(dir)) {
    if (file.lastSeq <= after) continue;
    if (file.firstSeq > through) break;
    let lines: string[];
    try {
      lines = gunzipSync(readFileSync(file.path)).toString("utf8").split("\n");
    } catch (err) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `audit archive ${file.path}: cannot read it: ${String(err)}`,
        {
          cause: err,
        },
      );
    }
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line === "") continue;
      let r: AuditRecord;
      try {
        r = JSON.parse(line) as AuditRecord;
      } catch (err) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `audit archive ${file.path}, line ${i + 1}: not a JSON audit record: ${String(err)}`,
          { cause: err },
        );
      }
      if (r.seq > through) break;
      if (r.seq <= after || (query.account !== undefined && r.account !== query.account)) continue;
      out.push(r);
      if (out.length >= limit) return out;
    }
  }
  return out;
}

/** The table's rows not archived yet (above `auditArchivedThrough`), oldest first. */
export function queryUnarchived(db: Database.Database, query: AuditQuery = {}): AuditRecord[] {
  return queryAudit(db, { ...query, afterSeq: Math.max(query.afterSeq ?? 0, archivedThroughSeq(db)) });
}

/**
 * The whole log, oldest first: the archive's rows up to `auditArchivedThrough`, then the table's
 * rows above it, in one read transaction (see the file comment).
 */
export function queryAuditWithArchive(
  db: Database.Database,
  archiveDir: string,
  query: AuditQuery = {},
): AuditRecord[] {
  // The mark and the rows above it from one snapshot (its first read pins it): every row deleted
  // before it is in a file renamed before it, at or below the mark. The files are read after the
  // transaction (they never change), so a long read of them does not hold back checkpoints.
  const { through, rest } = db.transaction(() => ({
    through: archivedThroughSeq(db),
    rest: queryUnarchived(db, query),
  }))();
  const archived = through === 0 ? [] : readArchive(archiveDir, { ...query, throughSeq: through });
  const all = archived.length === 0 ? rest : [...archived, ...rest];
  return query.limit === undefined ? all : all.slice(0, query.limit);
}

/** Reads the audit log of the gateway state directory `stateDir`, archive included (safe while the gateway runs). */
export function readAudit(stateDir: string, query: AuditQuery = {}): AuditRecord[] {
  const db = openGatewayDbReadOnly(stateDir);
  try {
    return queryAuditWithArchive(db, join(stateDir, ARCHIVE_DIR), query);
  } finally {
    db.close();
  }
}

/** What the archiver needs. */
export interface AuditArchiverOptions {
  /** The gateway's connection (the archiver deletes through it, between batches). */
  readonly db: Database.Database;
  /** The archive directory (created when first needed). */
  readonly dir: string;
  /** Rows decided longer ago than this are archived; 0 keeps every row in the database. */
  readonly afterMs: number;
  /** Wall clock, ms since the Unix epoch. */
  readonly now: () => number;
  readonly log: Logger;
  /** How often to look (default ARCHIVE_EVERY_MS). */
  readonly everyMs?: number;
}

/** Moves old audit rows into the archive; see the file comment. */
export class AuditArchiver {
  /** Rows archived since start. */
  rowsArchived = 0;
  readonly #o: AuditArchiverOptions;
  readonly #firstSeq: Database.Statement<[], number | null>;
  readonly #lastSeq: Database.Statement<[], number | null>;
  readonly #deleteRange: Database.Statement<[number, number]>;
  #chain: Promise<number> = Promise.resolve(0);
  /** Why archiving stopped for good (the archive and the database disagree), if it did. */
  #disagreement: string | undefined;
  #dirSynced = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: AuditArchiverOptions) {
    this.#o = options;
    this.#firstSeq = options.db.prepare<[], number | null>("SELECT MIN(seq) FROM audit").pluck();
    this.#lastSeq = options.db.prepare<[], number | null>("SELECT MAX(seq) FROM audit").pluck();
    this.#deleteRange = options.db.prepare("DELETE FROM audit WHERE seq >= ? AND seq <= ?");
  }

  /** Archives what is due now, then every `everyMs`; does nothing when `afterMs` is 0. */
  start(): void {
    if (this.#o.afterMs === 0 || this.#stopped) return;
    const tick = () => {
      void this.archiveNow().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.everyMs ?? ARCHIVE_EVERY_MS).unref();
      });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  /**
   * Archives every row due now, one file after another; resolves with the number of rows moved.
   * Calls are queued behind each other. A failure (disk full, a read-only directory) is logged
   * and leaves the rows in the database, to be tried again at the next step.
   */
  archiveNow(): Promise<number> {
    const run = this.#chain.then(() => this.#run());
    // The caller gets `run`, failure and all (#run logs its own); the queue only needs to go on.
    this.#chain = run.catch(() => 0);
    return run;
  }

  /** Stops the timer and waits for a step under way (it stops at its next chunk). */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#chain;
  }

  async #run(): Promise<number> {
    const { afterMs, dir, log } = this.#o;
    if (afterMs === 0 || this.#stopped || this.#disagreement !== undefined) return 0;
    let moved = 0;
    try {
      if (!this.#dirSynced) {
        // The directory's own entry made durable, once per process (a crash may have come
        // between an earlier mkdir and its fsync).
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        await fsyncDirectory(dirname(dir));
        this.#dirSynced = true;
      }
      await this.#removeTemporaries();
      let through = await this.#adoptFilesPastMark(archivedThroughSeq(this.#o.db));
      if (through === undefined) return 0;
      // Rows a crash left in the table after their step 3 (see the file comment).
      await this.#deleteThrough(through);
      for (;;) {
        const run = await this.#collect(through, this.#o.now() - afterMs);
        if (run === undefined) break;
        const file = await this.#write(run);
        through = run.lastSeq;
        this.#mark(through);
        await this.#deleteThrough(through);
        moved += run.rows;
        this.rowsArchived += run.rows;
        log.info({ file, rows: run.rows, throughSeq: through }, "gateway: audit rows archived");
        if (run.rows < MAX_ROWS_PER_FILE) break;
      }
    } catch (err) {
      if (!this.#o.db.open) return moved;
      log.error(
        { err: HiveError.from(err), dir },
        "gateway: archiving audit rows failed; they stay in the database and are tried again later",
      );
    }
    return moved;
  }

  /**
   * The last seq archived, after checking the files against the database. Files past
   * `auditArchivedThrough` are adopted, in order, while each follows the one before without a
   * hole and either holds exactly the table's rows of its seq range (a crash, or a power loss that
   * undid the marks of several files, before their rows were deleted) or holds rows the table no
   * longer has, the table going on after it (an archive made before the mark existed). Anything
   * else is the sign of a database that is not the one the archive was made from: archiving stops,
   * with an error, and deletes nothing. Undefined when archiving must stop.
   */
  async #adoptFilesPastMark(through: number): Promise<number | undefined> {
    const { dir, log } = this.#o;
    const beyond = listArchive(dir).filter((f) => f.lastSeq > through);
    if (beyond.length === 0) return through;
    let adopted = through;
    for (const file of beyond) {
      if (file.firstSeq !== adopted + 1 || !(await this.#fileMatchesTable(file))) {
        this.#disagreement =
          `${dir} holds rows through seq ${beyond.at(-1)?.lastSeq} that this database has not ` +
          `archived (it archived through ${through}), and ${file.path} does not match its rows: a ` +
          "database restored or made afresh under an old archive? Archiving is stopped and no row " +
          "is deleted; move the archive directory aside and restart the gateway";
        log.error({ dir }, `gateway: audit archive: ${this.#disagreement}`);
        return undefined;
      }
      adopted = file.lastSeq;
    }
    // The renames a crash may have cut short of their directory fsync, made durable before the mark.
    await fsyncDirectory(dir);
    this.#mark(adopted);
    log.info(
      { files: beyond.map((f) => f.path), throughSeq: adopted },
      "gateway: audit archive files adopted",
    );
    return adopted;
  }

  /**
   * Whether a file's rows are the table's rows of its seq range, or are gone from a table that
   * goes on after it (its last row, which the table keeps, the same). Compared a chunk at a time,
   * yielding to the event loop between chunks.
   */
  async #fileMatchesTable(file: ArchiveFile): Promise<boolean> {
    const { db } = this.#o;
    const lines = (await gunzipAsync(readFileSync(file.path))).toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    if (lines.length !== file.lastSeq - file.firstSeq + 1) return false;
    const first = this.#firstSeq.get() ?? null;
    if (first !== null && first >= file.lastSeq) {
      // Its rows are gone from a table that goes on after it: the last one, if the table kept
      // it, must be the same.
      if (first > file.lastSeq) return true;
      const kept = queryAudit(db, { afterSeq: file.lastSeq - 1, limit: 1 })[0];
      return kept !== undefined && JSON.stringify(kept) === lines.at(-1);
    }
    for (let i = 0; i < lines.length; i += READ_CHUNK) {
      const chunk = lines.slice(i, i + READ_CHUNK);
      const afterSeq = file.firstSeq + i - 1;
      const table = queryAudit(db, { afterSeq, limit: chunk.length });
      for (let j = 0; j < chunk.length; j++) {
        const row = table[j];
        if (row === undefined || row.seq !== afterSeq + j + 1 || JSON.stringify(row) !== chunk[j])
          return false;
      }
      await yieldToLoop();
    }
    return true;
  }

  /** Moves `auditArchivedThrough` to `seq` (step 3 of the file comment). */
  #mark(seq: number): void {
    this.#withoutFsync(() => writeMeta(this.#o.db, THROUGH_KEY, String(seq)));
  }

  /** Runs a write of the archiver with synchronous = NORMAL (see the file comment), then FULL again. */
  #withoutFsync(write: () => void): void {
    const { db } = this.#o;
    db.pragma("synchronous = NORMAL");
    try {
      write();
    } finally {
      db.pragma("synchronous = FULL");
    }
  }

  /**
   * Compresses the oldest rows above `afterSeq` decided before `cutoffMs` (at most
   * MAX_ROWS_PER_FILE) into a gzip stream as they are read, a chunk at a time: only compressed
   * bytes pile up, outside the JS heap, so neither the encoding nor the garbage collector holds
   * the event loop for long. Undefined when there are none, or the archiver stopped meanwhile.
   */
  async #collect(
    afterSeq: number,
    cutoffMs: number,
  ): Promise<{ firstSeq: number; lastSeq: number; rows: number; body: Buffer } | undefined> {
    // A gzip stream compresses on libuv's thread pool.
    const gz = createGzip();
    const parts: Buffer[] = [];
    gz.on("data", (b: Buffer) => parts.push(b));
    const ended = once(gz, "end");
    let firstSeq = 0;
    let lastSeq = afterSeq;
    let rows = 0;
    try {
      for (;;) {
        if (this.#stopped || !this.#o.db.open) return undefined;
        const want = Math.min(READ_CHUNK, MAX_ROWS_PER_FILE - rows);
        const chunk = queryAudit(this.#o.db, { afterSeq: lastSeq, limit: want });
        let reachedCutoff = false;
        let text = "";
        for (const r of chunk) {
          if (r.decidedAtMs >= cutoffMs) {
            reachedCutoff = true;
            if (r.decidedAtMs > this.#o.now() + CLOCK_SLACK_MS)
              this.#o.log.warn(
                { seq: r.seq, decidedAtMs: r.decidedAtMs },
                "gateway: audit archive: a row decided in the future (the clock went back?) holds up archiving until the clock passes it",
              );
            break;
          }
          if (rows === 0) firstSeq = r.seq;
          text += `${JSON.stringify(r)}\n`;
          lastSeq = r.seq;
          rows += 1;
        }
        if (text !== "" && !gz.write(text)) await once(gz, "drain");
        if (reachedCutoff || chunk.length < want || rows >= MAX_ROWS_PER_FILE) break;
        await yieldToLoop();
      }
      if (rows === 0) return undefined;
      gz.end();
      await ended;
      return { firstSeq, lastSeq, rows, body: Buffer.concat(parts) };
    } finally {
      if (!gz.writableEnded) gz.destroy();
    }
  }

  /** Writes a run to its file durably (temporary name, fsync, rename, fsync of the directory). */
  async #write(run: { firstSeq: number; lastSeq: number; body: Buffer }): Promise<string> {
    const { dir } = this.#o;
    const path = join(dir, archiveFileName(run.firstSeq, run.lastSeq));
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(run.body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDirectory(dir);
    return path;
  }

  /**
   * Deletes the table's rows up to `seq`, a chunk per transaction, except the table's last row:
   * `seq` is a plain rowid, which SQLite numbers from the largest one in the table, so an
   * emptied table would number its next row 1 again. The row kept is in the archive too, and
   * readers take the table only above the archive.
   */
  async #deleteThrough(seq: number): Promise<void> {
    for (;;) {
      if (this.#stopped || !this.#o.db.open) return;
      const first = this.#firstSeq.get() ?? null;
      const through = Math.min(seq, (this.#lastSeq.get() ?? 0) - 1);
      if (first === null || first > through) return;
      // Without an fsync of its own: losing a delete in a crash only leaves rows that the next
      // step deletes again, and readers skip them meanwhile; the next batch's commit fsyncs the
      // WAL, this delete's pages with it. An fsync here would hold the gateway's thread for as
      // long as the disk takes (up to 50 ms measured on this machine's shared disk).
      this.#withoutFsync(() => this.#deleteRange.run(first, Math.min(through, first + DELETE_CHUNK - 1)));
      await yieldToLoop();
    }
  }

  async #removeTemporaries(): Promise<void> {
    for (const name of readdirSync(this.#o.dir))
      if (name.endsWith(".tmp")) await unlink(join(this.#o.dir, name));
  }
}
