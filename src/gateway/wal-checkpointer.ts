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
 * If the worker fails, automatic checkpoints are turned back on (the WAL must not grow without
 * bound) and the failure is logged.
 */
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import type { Logger } from "../core/logger.ts";
import { AUTO_CHECKPOINT_PAGES } from "./gateway-db.ts";

/** A message of the worker. */
type WorkerMessage = { type: "checkpoint"; checkpointed: number } | { type: "error"; message: string };

/** See the file comment. */
export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  /** The WAL frames (pages) the last checkpoint round had copied into the database file. */
  readonly figures = { framesCopied: 0 };

  constructor(db: Database.Database, path: string, log: Logger, everyMs = 250) {
    db.pragma("wal_autocheckpoint = 0");
    this.#worker = new Worker(new URL("./checkpoint-worker.cjs", import.meta.url), {
      workerData: { path, everyMs },
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
      this.figures.framesCopied = m.checkpointed;
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
