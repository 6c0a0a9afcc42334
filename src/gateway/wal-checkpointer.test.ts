import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
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
  const checkpointer = new WalCheckpointer(state.db, state.path, silentLogger(), 10);
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

test("if the worker fails, automatic checkpoints come back on", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-ckpt-"));
  dirs.push(dir);
  const state = openGatewayDb(dir);
  // A path the worker cannot open: its connection fails at once.
  const checkpointer = new WalCheckpointer(state.db, join(dir, "missing", "gateway.db"), silentLogger(), 10);
  try {
    await until("autocheckpoint back on", () =>
      state.db.pragma("wal_autocheckpoint", { simple: true }) === AUTO_CHECKPOINT_PAGES ? true : undefined,
    );
  } finally {
    await checkpointer.close();
    state.close();
  }
});
