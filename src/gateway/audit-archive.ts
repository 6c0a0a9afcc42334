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
 * One archiving step, in this order, so that a crash anywhere loses no row and no reader sees one
 * twice:
 *   1. read the oldest rows, in seq order, up to the first one decided after the cutoff (at most
 *      MAX_ROWS_PER_FILE), a chunk at a time, yielding to the event loop between chunks;
 *   2. write them gzipped to `<name>.tmp`, fsync it, rename it to its name, fsync the directory;
 *   3. delete them from the table, a chunk per transaction, yielding between chunks.
 * A crash between 2 and 3 leaves rows both in a file and in the table: readers take table rows
 * only above the last archived seq, and the next step deletes them first. A crash during 2 leaves
 * a `.tmp` file, deleted by the next step. Steps run on the gateway's thread (one connection, as
 * every write of the gateway), every ARCHIVE_EVERY_MS and at start; chunks keep each stall to a
 * few milliseconds.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { once } from "node:events";
import { createGzip, gunzipSync } from "node:zlib";
import type Database from "better-sqlite3";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { queryAudit, type AuditQuery, type AuditRecord } from "./audit.ts";
import { fsyncDirectory, openGatewayDbReadOnly } from "./gateway-db.ts";

/** The archive's directory inside a gateway state directory. */
export const ARCHIVE_DIR = "audit-archive";

/** Most rows in one archive file (about 10–30 MB before gzip). */
export const MAX_ROWS_PER_FILE = 50_000;

/** How often a running gateway looks for rows to archive. */
export const ARCHIVE_EVERY_MS = 60_000;

/** Rows read (and encoded) between two yields to the event loop. */
const READ_CHUNK = 250;
/** Rows deleted per transaction. */
const DELETE_CHUNK = 1_000;

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
    throw err;
  }
  const files: ArchiveFile[] = [];
  for (const name of names) {
    const m = FILE_NAME.exec(name);
    if (m !== null) files.push({ firstSeq: Number(m[1]), lastSeq: Number(m[2]), path: join(dir, name) });
  }
  return files.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** The last seq the archive holds (0 when it holds none). */
export function archivedThrough(dir: string): number {
  return listArchive(dir).at(-1)?.lastSeq ?? 0;
}

/** Reads archived rows matching `query` (seq after `afterSeq`, the account, at most `limit`). */
export function readArchive(dir: string, query: AuditQuery = {}): AuditRecord[] {
  const after = query.afterSeq ?? 0;
  const limit = query.limit ?? Number.POSITIVE_INFINITY;
  const out: AuditRecord[] = [];
  for (const file of listArchive(dir)) {
    if (file.lastSeq <= after) continue;
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
      if (r.seq <= after || (query.account !== undefined && r.account !== query.account)) continue;
      out.push(r);
      if (out.length >= limit) return out;
    }
  }
  return out;
}

/** The table's rows above the archive (those not archived yet), oldest first. */
export function queryUnarchived(
  db: Database.Database,
  archiveDir: string,
  query: AuditQuery = {},
): AuditRecord[] {
  return queryAudit(db, { ...query, afterSeq: Math.max(query.afterSeq ?? 0, archivedThrough(archiveDir)) });
}

/** The whole log, oldest first: archived rows, then the table's rows above the archive. */
export function queryAuditWithArchive(
  db: Database.Database,
  archiveDir: string,
  query: AuditQuery = {},
): AuditRecord[] {
  const archived = readArchive(archiveDir, query);
  const limit = query.limit;
  if (limit !== undefined && archived.length >= limit) return archived;
  const rest = queryUnarchived(db, archiveDir, {
    ...query,
    limit: limit === undefined ? undefined : limit - archived.length,
  });
  return archived.length === 0 ? rest : [...archived, ...rest];
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
    if (afterMs === 0 || this.#stopped) return 0;
    let moved = 0;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      await this.#removeTemporaries();
      let through = archivedThrough(dir);
      // Rows a crash left in the table after their file was written (see the file comment).
      await this.#deleteThrough(through);
      for (;;) {
        const run = await this.#collect(through, this.#o.now() - afterMs);
        if (run === undefined) break;
        const file = await this.#write(run);
        through = run.lastSeq;
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
    fsyncDirectory(dir);
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
      // Without an fsync of its own (synchronous = NORMAL for this one statement): losing a
      // delete in a crash only leaves rows that the next step deletes again, and readers skip
      // them meanwhile; the next batch's commit fsyncs the WAL, this delete's pages with it.
      // An fsync here would stall the gateway's thread for as long as the disk takes (up to
      // 50 ms measured on this machine's shared disk).
      const { db } = this.#o;
      db.pragma("synchronous = NORMAL");
      try {
        this.#deleteRange.run(first, Math.min(through, first + DELETE_CHUNK - 1));
      } finally {
        db.pragma("synchronous = FULL");
      }
      await yieldToLoop();
    }
  }

  async #removeTemporaries(): Promise<void> {
    for (const name of readdirSync(this.#o.dir))
      if (name.endsWith(".tmp")) await unlink(join(this.#o.dir, name));
  }
}
