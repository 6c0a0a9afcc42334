import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { SpawnRequestSchema } from "../../protocol/index.ts";
import { loadAdoptionRecords, saveAdoptionRecord, type AdoptionRecord } from "./adoption-record.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hive-adoption-"));
  dirs.push(d);
  return d;
}

function record(id: string): AdoptionRecord {
  return {
    request: create(SpawnRequestSchema, { deploymentId: id, env: { API_SECRET: "s3cret" } }),
    ports: [41000],
    cpus: [1],
    addresses: [{ socketName: "orders", address: "ipc:///run/hive/x/orders" }],
    epoch: 7n,
    ordersOpen: true,
    runDir: "/run/hive",
  };
}

const modeOf = (path: string): number => statSync(path).mode & 0o777;

describe("adoption records (real files)", () => {
  test("are written 0600 in a 0700 directory, and read back whole", async () => {
    const state = stateDir();
    await saveAdoptionRecord(state, record("dep-a"));
    assert.equal(modeOf(join(state, "deployments")), 0o700);
    assert.equal(modeOf(join(state, "deployments", "dep-a.json")), 0o600);
    const { records, unreadable } = await loadAdoptionRecords(state);
    assert.deepEqual(unreadable, []);
    assert.equal(records.length, 1);
    assert.equal(records[0]?.request.env["API_SECRET"], "s3cret");
    assert.equal(records[0]?.epoch, 7n);
  });

  test("a directory, temp file or record left readable by an older runner is tightened", async () => {
    const state = stateDir();
    const records = join(state, "deployments");
    mkdirSync(records, { mode: 0o755 });
    chmodSync(records, 0o755);
    writeFileSync(join(records, "dep-b.json.tmp"), "partial", { mode: 0o644 });
    chmodSync(join(records, "dep-b.json.tmp"), 0o644);
    await saveAdoptionRecord(state, record("dep-b"));
    assert.equal(modeOf(records), 0o700);
    assert.equal(modeOf(join(records, "dep-b.json")), 0o600);

    // A record written before records were private.
    await saveAdoptionRecord(state, record("dep-c"));
    chmodSync(join(records, "dep-c.json"), 0o644);
    const loaded = await loadAdoptionRecords(state);
    assert.equal(loaded.records.length, 2);
    assert.equal(modeOf(join(records, "dep-c.json")), 0o600);
  });

  test("keep the deployment's uid and gid; a record whose uid is not a uid is unreadable", async () => {
    const state = stateDir();
    await saveAdoptionRecord(state, { ...record("dep-u"), runAs: { uid: 20_007, gid: 20_007 } });
    await saveAdoptionRecord(state, record("dep-root"));
    const { records } = await loadAdoptionRecords(state);
    const byId = new Map(records.map((r) => [r.request.deploymentId, r]));
    assert.deepEqual(byId.get("dep-u")?.runAs, { uid: 20_007, gid: 20_007 });
    assert.equal(byId.get("dep-root")?.runAs, undefined, "a record without one: the runner's own");
    const file = join(state, "deployments", "dep-u.json");
    const raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...raw, runAs: { uid: 0, gid: 0 } }));
    const again = await loadAdoptionRecords(state);
    assert.deepEqual(again.unreadable, ["dep-u.json"], "root is never a deployment's uid");
  });
});
