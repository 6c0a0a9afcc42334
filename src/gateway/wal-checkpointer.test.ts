import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import Database from "better-sqlite3";
import { silentLogger } from "../core/logger.ts";
import { until } from "../core/testing/until.ts";
import { openGatewayDb } from "./gateway-db.ts";
import { AUTO_CHECKPOINT_PAGES } from "./gateway-db.ts";
import { WalCheckpointer } from "./wal-checkpointer.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("the worker checkpoints the WAL while the gateway's connection never does, and the WAL stays small", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-ckpt-"));
  dirs.push(dir);
  const state = openGatewayDb(dir);
  const checkpointer = new WalCheckpointer(state.db, state.path, silentLogger(), { everyMs: 10 });
  try {
    assert.equal(state.db.pragma("wal_autocheckpoint", { simple: true }), 0);
    const insert = state.db.prepare(
      "INSERT INTO audit (kind, outcome, account, detail, decided_at_ms) VALUES ('order', 'accepted', 'A', ?, 0)",
    );
    const detail = "x".repeat(500);
    let written = 0;
    // 40 commits of 200 rows (about 100 KiB each): 4 MB in all through the WAL.
    for (let batch = 0; batch < 40; batch++) {
      state.db.transaction(() => {
        for (let i = 0; i < 200; i++) insert.run(detail);
      })();
      written += 200 * detail.length;
      await new Promise((r) => setTimeout(r, 15));
    }
    await until("a round that copied frames", () => checkpointer.figures.framesCopied > 0);
    const wal = statSync(`${state.path}-wal`).size;
    // Without checkpoints the WAL would hold every page written (more than 4 MB); restarted after
    // each complete checkpoint, it holds a few commits' worth.
    assert.ok(wal < written / 2, `WAL ${wal} bytes after ${written} bytes written`);
    assert.equal(state.db.prepare("SELECT count(*) FROM audit").pluck().get(), 8_000);
  } finally {
    await checkpointer.close();
    state.close();
  }
});

test("under writes that never pause, the WAL is made to start over at its size limit instead of growing with every commit", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-ckpt-"));
  dirs.push(dir);
  const state = openGatewayDb(dir);
  const limit = 1024 * 1024;
  const checkpointer = new WalCheckpointer(state.db, state.path, silentLogger(), {
    everyMs: 10,
    restartAtBytes: limit,
  });
  try {
    assert.equal(state.db.pragma("journal_size_limit", { simple: true }), limit);
    const insert = state.db.prepare(
      "INSERT INTO audit (kind, outcome, account, detail, decided_at_ms) VALUES ('order', 'accepted', 'A', ?, 0)",
    );
    const detail = "x".repeat(500);
    // 1,200 commits of 40 rows, back to back as under a flood of orders (yielding only to the
    // event loop): PASSIVE rounds never catch up with such a writer, so without the RESTART
    // the WAL holds every page written: 44 MB for these 24 MB of rows, measured with no limit.
    // With it, 9–15 MB (a RESTART that meets a commit every few hundred µs often cannot have the
    // lock within its 100 ms and waits for the next round; a gateway's batches leave it gaps).
    let written = 0;
    let largest = 0;
    for (let c = 0; c < 1_200; c++) {
      state.db.transaction(() => {
        for (let i = 0; i < 40; i++) insert.run(detail);
      })();
      written += 40 * detail.length;
      largest = Math.max(largest, statSync(`${state.path}-wal`).size);
      await yieldToLoop();
    }
    assert.ok(checkpointer.figures.restarts >= 1, `restarts ${JSON.stringify(checkpointer.figures)}`);
    assert.ok(largest < written, `the WAL reached ${largest} bytes with ${written} bytes of rows written`);
    assert.equal(state.db.prepare("SELECT count(*) FROM audit").pluck().get(), 48_000);
  } finally {
    await checkpointer.close();
    state.close();
  }
});

test("a reader that still needs the WAL holds the RESTART back (it would hold the gateway's commits while it waits)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-ckpt-"));
  dirs.push(dir);
  const state = openGatewayDb(dir);
  const limit = 256 * 1024;
  const checkpointer = new WalCheckpointer(state.db, state.path, silentLogger(), {
    everyMs: 10,
    restartAtBytes: limit,
  });
  // A long `hive gateway audit`: a read transaction on its own connection, open on the WAL.
  const reader = new Database(state.path, { readonly: true });
  try {
    const insert = state.db.prepare(
      "INSERT INTO audit (kind, outcome, account, detail, decided_at_ms) VALUES ('order', 'accepted', 'A', ?, 0)",
    );
    const write = (commits: number) => {
      for (let c = 0; c < commits; c++)
        state.db.transaction(() => {
          for (let i = 0; i < 40; i++) insert.run("x".repeat(500));
        })();
    };
    write(1);
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM audit").pluck().get();
    write(100); // about 2 MB: eight times the limit, none of it copyable past the reader's snapshot
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
    write(1);
    assert.ok(statSync(`${state.path}-wal`).size <= limit + 64 * 1024, "the WAL file cut back to its limit");
  } finally {
    reader.close();
    await checkpointer.close();
    state.close();
  }
});

test("if the worker fails, automatic checkpoints come back on", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-ckpt-"));
  dirs.push(dir);
  const state = openGatewayDb(dir);
  // A path the worker cannot open: its connection fails at once.
  const checkpointer = new WalCheckpointer(state.db, join(dir, "missing", "gateway.db"), silentLogger(), {
    everyMs: 10,
  });
  try {
    await until("autocheckpoint back on", () =>
      state.db.pragma("wal_autocheckpoint", { simple: true }) === AUTO_CHECKPOINT_PAGES ? true : undefined,
    );
  } finally {
    await checkpointer.close();
    state.close();
  }
});
