import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import Database from "better-sqlite3";
import { silentLogger } from "../core/logger.ts";
import { until } from "../core/testing/until.ts";
import { AUTO_CHECKPOINT_PAGES, openGatewayDb, type GatewayDb } from "./gateway-db.ts";
import { WalCheckpointer, type WalCheckpointerOptions } from "./wal-checkpointer.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Bytes of rows in each audit row `commit` writes. */
const ROW_BYTES = 500;

interface Kit {
  readonly state: GatewayDb;
  readonly checkpointer: WalCheckpointer;
  /** Commits `rows` audit rows of ROW_BYTES in one transaction, as a gateway's batch. */
  readonly commit: (rows: number) => void;
  readonly walBytes: () => number;
}

/** A fresh state directory with a checkpointer of `options` (its worker's path may be changed). */
async function withCheckpointer(
  options: WalCheckpointerOptions & { workerPath?: (path: string, dir: string) => string },
  body: (kit: Kit) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hive-ckpt-"));
  dirs.push(dir);
  const state = openGatewayDb(dir);
  const path = options.workerPath?.(state.path, dir) ?? state.path;
  const checkpointer = new WalCheckpointer(state.db, path, silentLogger(), options);
  const insert = state.db.prepare(
    "INSERT INTO audit (kind, outcome, account, detail, decided_at_ms) VALUES ('order', 'accepted', 'A', ?, 0)",
  );
  const detail = "x".repeat(ROW_BYTES);
  const commit = state.db.transaction((rows: number) => {
    for (let i = 0; i < rows; i++) insert.run(detail);
  });
  try {
    await body({
      state,
      checkpointer,
      commit: (rows) => commit(rows),
      walBytes: () => statSync(`${state.path}-wal`).size,
    });
  } finally {
    await checkpointer.close();
    state.close();
  }
}

const auditRows = (state: GatewayDb) => state.db.prepare("SELECT count(*) FROM audit").pluck().get();

test("the worker checkpoints the WAL while the gateway's connection never does, and the WAL stays small", async () => {
  await withCheckpointer({ everyMs: 10 }, async ({ state, checkpointer, commit, walBytes }) => {
    assert.equal(state.db.pragma("wal_autocheckpoint", { simple: true }), 0);
    // 40 commits of 200 rows (about 100 KiB each): 4 MB in all through the WAL.
    for (let batch = 0; batch < 40; batch++) {
      commit(200);
      await new Promise((r) => setTimeout(r, 15));
    }
    const written = 40 * 200 * ROW_BYTES;
    await until("a round that copied frames", () => checkpointer.figures.framesCopied > 0);
    // Without checkpoints the WAL would hold every page written (more than 4 MB); restarted after
    // each complete checkpoint, it holds a few commits' worth.
    assert.ok(walBytes() < written / 2, `WAL ${walBytes()} bytes after ${written} bytes written`);
    assert.equal(auditRows(state), 8_000);
  });
});

test("under writes that never pause, the WAL is made to start over at its size limit instead of growing with every commit", async () => {
  const limit = 1024 * 1024;
  await withCheckpointer(
    { everyMs: 10, restartAtBytes: limit },
    async ({ state, checkpointer, commit, walBytes }) => {
      assert.equal(state.db.pragma("journal_size_limit", { simple: true }), limit);
      // 1,200 commits of 40 rows, back to back as under a flood of orders (yielding only to the
      // event loop): PASSIVE rounds never catch up with such a writer, so without the RESTART
      // the WAL holds every page written: 44 MB for these 24 MB of rows, measured with no limit.
      // With it, 9–15 MB (a RESTART that meets a commit every few hundred µs often cannot have the
      // lock within its 20 ms and waits for the next round; a gateway's batches leave it gaps).
      let largest = 0;
      for (let c = 0; c < 1_200; c++) {
        commit(40);
        largest = Math.max(largest, walBytes());
        await yieldToLoop();
      }
      const written = 1_200 * 40 * ROW_BYTES;
      assert.ok(checkpointer.figures.restarts >= 1, `restarts ${JSON.stringify(checkpointer.figures)}`);
      assert.ok(largest < written, `the WAL reached ${largest} bytes with ${written} bytes of rows written`);
      assert.equal(auditRows(state), 48_000);
    },
  );
});

test("a reader that still needs the WAL holds the RESTART back (it would hold the gateway's commits while it waits)", async () => {
  const limit = 256 * 1024;
  await withCheckpointer(
    { everyMs: 10, restartAtBytes: limit },
    async ({ state, checkpointer, commit, walBytes }) => {
      // A long `hive gateway audit`: a read transaction on its own connection, open on the WAL.
      const reader = new Database(state.path, { readonly: true });
      try {
        commit(40);
        reader.exec("BEGIN");
        reader.prepare("SELECT count(*) FROM audit").pluck().get();
        // About 2 MB: eight times the limit, none of it copyable past the reader's snapshot.
        for (let c = 0; c < 100; c++) commit(40);
        const frames = (limit / 4096) * 4;
        await until("a round that found the WAL past the limit", () =>
          checkpointer.figures.walFrames >= frames ? true : undefined,
        );
        await new Promise((r) => setTimeout(r, 100)); // several rounds more
        assert.deepEqual(
          { restarts: checkpointer.figures.restarts, busy: checkpointer.figures.restartsBusy },
          { restarts: 0, busy: 0 },
        );
        reader.exec("COMMIT");
        await until("the WAL made to start over once the reader is gone", () =>
          checkpointer.figures.restarts >= 1 ? true : undefined,
        );
        commit(40);
        assert.ok(walBytes() <= limit + 64 * 1024, "the WAL file cut back to its limit");
      } finally {
        reader.close();
      }
    },
  );
});

test("if the worker fails, automatic checkpoints come back on", async () => {
  // A path the worker cannot open: its connection fails at once.
  await withCheckpointer(
    { everyMs: 10, workerPath: (_, dir) => join(dir, "missing", "gateway.db") },
    async ({ state }) => {
      await until("autocheckpoint back on", () =>
        state.db.pragma("wal_autocheckpoint", { simple: true }) === AUTO_CHECKPOINT_PAGES ? true : undefined,
      );
    },
  );
});
