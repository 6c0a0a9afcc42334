/**
 * Moves the gateway's WAL checkpoints off its event loop. With SQLite's automatic checkpoint, the
 * commit that crosses the threshold copies every page of the WAL into the database file and
 * fsyncs it before it returns: a stall of several milliseconds on the thread that decides orders,
 * met more often the more a batch writes (docs/benchmarks.md, gateway). Here the gateway's own
 * connection never checkpoints (`wal_autocheckpoint = 0`) and a worker thread with a connection
 * of its own (checkpoint-worker.cjs) runs a PASSIVE checkpoint every `everyMs`. Durability does
 * not change: a commit is durable once its WAL frames are fsynced, which the gateway's commit
 * still does; the checkpoint only moves them into the main file.
 *
 * Under sustained load PASSIVE rounds alone never let the WAL start over, so it would grow with
 * every order (270 MB after 400,000 orders, measured): when a round leaves more than
 * `restartAtBytes` in it, the worker runs a RESTART checkpoint at once, which holds the gateway's
 * next commit for the few frames written since the round (waiting at most `restartWaitMs` for
 * the lock and for readers, else trying again next round; the gateway's transactions are
 * IMMEDIATE so that they wait for it rather than fail), and the WAL file is cut back to that
 * size (`journal_size_limit`). See checkpoint-worker.cjs.
 *
 * If the worker fails, automatic checkpoints are turned back on (the WAL must not grow without
 * bound) and the failure is logged.
 */
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import type { Logger } from "../core/logger.ts";
import { AUTO_CHECKPOINT_PAGES } from "./gateway-db.ts";

/** A message of the worker. */
type WorkerMessage =
  | {
      type: "checkpoint";
      checkpointed: number;
      log: number;
      restarted: { done: boolean; ms: number } | null;
    }
  | { type: "error"; message: string };

/** When the checkpointer runs, and when it makes the WAL start over. */
export interface WalCheckpointerOptions {
  /** Between PASSIVE rounds. Default 250 ms. */
  readonly everyMs?: number;
  /** A round that leaves more than this in the WAL is followed by a RESTART. Default 64 MiB. */
  readonly restartAtBytes?: number;
  /**
   * Longest a RESTART waits for the write lock and for readers. Default 20 ms: while it waits for
   * a reader it holds the write lock, and the gateway's commits wait with it.
   */
  readonly restartWaitMs?: number;
}

/** See WalCheckpointerOptions. */
export const WAL_RESTART_AT_BYTES = 64 * 1024 * 1024;

/** See the file comment. */
export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  readonly figures = {
    /** The WAL frames (pages) the last round had copied into the database file. */
    framesCopied: 0,
    /** The WAL frames the last round found. */
    walFrames: 0,
    /** RESTART checkpoints done, those that could not have their locks in time, and the longest (ms). */
    restarts: 0,
    restartsBusy: 0,
    longestRestartMs: 0,
  };

  constructor(db: Database.Database, path: string, log: Logger, options: WalCheckpointerOptions = {}) {
    const pageSize = Number(db.pragma("page_size", { simple: true }));
    const restartAtBytes = options.restartAtBytes ?? WAL_RESTART_AT_BYTES;
    db.pragma("wal_autocheckpoint = 0");
    // The gateway's connection cuts the file back too, when it is the one that rewinds the WAL.
    db.pragma(`journal_size_limit = ${restartAtBytes}`);
    this.#worker = new Worker(new URL("./checkpoint-worker.cjs", import.meta.url), {
      workerData: {
        path,
        everyMs: options.everyMs ?? 250,
        restartAtFrames: Math.max(1, Math.ceil(restartAtBytes / pageSize)),
        restartWaitMs: options.restartWaitMs ?? 20,
        sizeLimitBytes: restartAtBytes,
      },
    });
    // The worker must not keep the process alive, nor a quiet gateway awake.
    this.#worker.unref();
    const fallBack = (why: string) => {
      if (!db.open) return;
      log.error({ why }, "gateway: the WAL checkpointer stopped; automatic checkpoints are back on");
      db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    };
    this.#worker.on("message", (m: WorkerMessage) => {
      if (m.type === "error") {
        fallBack(m.message);
        return;
      }
      const f = this.figures;
      f.framesCopied = m.checkpointed;
      f.walFrames = m.log;
      if (m.restarted === null) return;
      // A RESTART given up waited too, with the lock held part of the time: the longest counts it.
      f.longestRestartMs = Math.max(f.longestRestartMs, m.restarted.ms);
      if (!m.restarted.done) {
        f.restartsBusy += 1;
        log.warn(
          { waitedMs: Math.round(m.restarted.ms), walFrames: m.log },
          "gateway: the WAL could not start over (a long reader or writer); trying again next round",
        );
        return;
      }
      f.restarts += 1;
    });
    this.#worker.on("error", (err) => fallBack(String(err)));
    this.#exited = new Promise((resolve) => this.#worker.once("exit", () => resolve()));
  }

  /** Stops the worker and closes its connection (before the gateway closes its own). */
  async close(): Promise<void> {
    this.#worker.postMessage("stop");
    const timer = setTimeout(() => void this.#worker.terminate(), 5_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
