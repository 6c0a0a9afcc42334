/**
 * npm run bench:gateway-soak [-- --json] [--ids N] [--fresh N] [--refused N] [--dir DIR]
 *
 * The gateway with far more retained order ids than a JavaScript Map can hold (issue 17):
 *
 *   1. pre-fill: `--ids` (default 20,000,000, more than 2^24) consumed, final ids written straight
 *      into a new state directory's SQLite file (the gateway's orders table and index, the
 *      counts, and the paper broker's rows for the same orders), in transactions of 500,000, over
 *      20 accounts, with a retention (30 days) that keeps them all;
 *   2. lookups: one id looked up on disk as the gateway does (the indexed read of order-ids.ts),
 *      for ids retained and ids never seen, against the floor of a JavaScript Map lookup in the
 *      same run;
 *   3. start-up: the gateway starts on that file in its own process (bench/gateway-soak-child.ts);
 *      the time of `startGateway` with every id retained;
 *   4. `--fresh` (default 1,000,000) new ids through the gateway's orders socket (a load process,
 *      bench/gateway-peer.ts, 64 orders to a message, market orders that fill), resident memory
 *      sampled after every 100,000;
 *   5. one 64 MiB frame on the orders socket (what the gateway answers, if anything);
 *   6. `--refused` (default 1,000,000) refused orders: half to an account with no fence
 *      (`not-fenced`), half to a killed one (`killed`), memory sampled again;
 *   7. the database, WAL and audit sizes, and whether the gateway survived (its loop never failed
 *      and it still answers).
 * Goals: survives; memory flat after the first million ids (the resident memory of the last
 * fresh sample within 10% of the one after the first 100,000 fresh ids; each sample follows a full
 * garbage collection, and reports the live heap too); start-up ≤ 2 s.
 *
 * Disk: about 200 bytes per pre-filled id (both tables with their keys), plus the audit of the
 * orders sent; the state directory goes to --dir (default the system's temp directory) and is
 * removed at the end, or on SIGINT/SIGTERM.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import * as zmq from "zeromq";
import { GatewayClient } from "../src/gateway/control-client.ts";
import { DB_FILE, openGatewayDb } from "../src/gateway/gateway-db.ts";
import { PaperBroker } from "../src/gateway/paper-broker.ts";
import { ChildPeer } from "./child-peer.ts";
import type { SoakChildCommand, SoakChildReply } from "./gateway-soak-child.ts";
import { GatewayPeer } from "./gateway-peers.ts";

interface Args {
  json: boolean;
  ids: number;
  fresh: number;
  refused: number;
  dir: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { json: false, ids: 20_000_000, fresh: 1_000_000, refused: 1_000_000, dir: tmpdir() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a}: expected a value`);
      return v;
    };
    const count = () => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a}: expected a whole number ≥ 0`);
      return n;
    };
    if (a === "--json") args.json = true;
    else if (a === "--ids") args.ids = count();
    else if (a === "--fresh") args.fresh = count();
    else if (a === "--refused") args.refused = count();
    else if (a === "--dir") args.dir = value();
    else
      throw new Error(`unknown argument ${a}; expected --json, --ids N, --fresh N, --refused N, --dir DIR`);
  }
  return args;
}

const ACCOUNTS = 20;
const SAMPLE_EVERY = 100_000;
const RETENTION_DAYS = 30;
const MiB = 1024 * 1024;
const childScript = fileURLToPath(new URL("./gateway-soak-child.ts", import.meta.url));

const preAccount = (i: number) => `ACC-P${i % ACCOUNTS}`;
const preDeployment = (i: number) => `dep-p${i % ACCOUNTS}`;
const preId = (i: number) => `p${String(i).padStart(9, "0")}`;

/** Writes `n` consumed, filled ids into a new state directory; returns the seconds it took. */
function prefill(dir: string, n: number): number {
  const t0 = performance.now();
  const opened = openGatewayDb(dir);
  new PaperBroker(opened.db).close(); // creates the paper broker's tables
  opened.close();
  const db = new Database(join(dir, DB_FILE));
  db.pragma("synchronous = OFF");
  db.pragma("cache_size = -262144"); // 256 MiB: the B-trees' right edges stay in memory
  // Generated in SQL (a recursive CTE), a chunk to a transaction: the rows never cross into JS.
  const start = Date.now() - n; // one id a millisecond, up to now: all within the retention
  const chunk = 1_000_000;
  const rows = (from: number, to: number, select: string) =>
    `WITH RECURSIVE c(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM c WHERE i < ${to - 1}) ${select}`;
  const account = `'ACC-P' || (i % ${ACCOUNTS})`;
  const id = "printf('p%09d', i)";
  for (let from = 0; from < n; from += chunk) {
    const to = Math.min(n, from + chunk);
    db.transaction(() => {
      db.exec(
        rows(
          from,
          to,
          `INSERT INTO orders (consumed_at_ms, account, client_order_id, status, deployment_id, epoch, symbol, side, qty, type, price) SELECT ${start} + i, ${account}, ${id}, 'filled', 'dep-p' || (i % ${ACCOUNTS}), '1', 'ESZ6', 'buy', 1, 'market', NULL FROM c`,
        ),
      );
      db.exec(
        rows(
          from,
          to,
          `INSERT INTO paper_orders (account, client_order_id, symbol, side, qty, type, price, status, fill_id, fill_price, filled_at_ms) SELECT ${account}, ${id}, 'ESZ6', 'buy', 1, 'market', NULL, 'filled', 'pf-' || (i + 1), 100, ${start} + i FROM c`,
        ),
      );
    })();
  }
  db.transaction(() => {
    const count = db.prepare("INSERT INTO order_id_counts (account, deployment_id, n) VALUES (?, ?, ?)");
    for (let k = 0; k < ACCOUNTS; k++)
      count.run(preAccount(k), preDeployment(k), Math.floor(n / ACCOUNTS) + (k < n % ACCOUNTS ? 1 : 0));
    db.prepare("INSERT INTO paper_meta (key, value) VALUES ('fillSeq', ?)").run(n);
  })();
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  return (performance.now() - t0) / 1000;
}

interface LookupFigures {
  readonly retainedUs: number;
  readonly unseenUs: number;
  readonly mapFloorUs: number;
}

/** µs per lookup: the gateway's indexed read for retained and unseen ids, and a Map's get. */
function lookups(dir: string, n: number): LookupFigures {
  const samples = Math.min(200_000, Math.max(1, n));
  const db = new Database(join(dir, DB_FILE), { readonly: true });
  const lookup = db
    .prepare("SELECT status FROM orders WHERE account = ? AND client_order_id = ? LIMIT 1")
    .pluck();
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  const picks = Array.from({ length: samples }, () => random() % Math.max(1, n));
  // The keys are built before the clock starts: what is timed is the lookup alone.
  const retainedKeys = picks.map((i) => [preAccount(i), preId(i)] as const);
  const unseenKeys = picks.map((i) => [preAccount(i), `u${i}`] as const);
  const mapKeys = picks.map((i) => `${preAccount(i)}\u0001${preId(i)}`);
  const time = (fn: (s: number) => unknown) => {
    const t0 = performance.now();
    let found = 0;
    for (let s = 0; s < samples; s++) if (fn(s) !== undefined) found += 1;
    return { us: ((performance.now() - t0) * 1000) / samples, found };
  };
  const retained = time((s) => lookup.get(...(retainedKeys[s] as readonly [string, string])));
  if (n > 0 && retained.found !== samples) throw new Error(`lookups: ${retained.found}/${samples} found`);
  const unseen = time((s) => lookup.get(...(unseenKeys[s] as readonly [string, string])));
  db.close();
  const map = new Map<string, string>();
  for (const k of mapKeys) map.set(k, "filled");
  const floor = time((s) => map.get(mapKeys[s] as string));
  return { retainedUs: retained.us, unseenUs: unseen.us, mapFloorUs: floor.us };
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

interface Sample {
  readonly phase: string;
  readonly after: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(args.dir, "hive-gw-soak-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const log = (line: string) => {
    if (!args.json) process.stderr.write(`${line}\n`);
  };
  let child: ChildPeer<SoakChildCommand, SoakChildReply> | undefined;
  let peer: GatewayPeer | undefined;
  let control: GatewayClient | undefined;
  try {
    log(`pre-filling ${args.ids} retained ids in ${dir} ...`);
    const prefillS = prefill(dir, args.ids);
    log(`pre-filled in ${prefillS.toFixed(1)} s; timing lookups ...`);
    const lookup = lookups(dir, args.ids);

    child = new ChildPeer<SoakChildCommand, SoakChildReply>("soak gateway", childScript);
    await child.next("ready", 30_000);
    const started = await child.request(
      {
        cmd: "start",
        stateDir: dir,
        config: {
          orderIdRetentionDays: RETENTION_DAYS,
          maxOrderAgeMs: 0, // a flood queues orders for seconds: not what is measured
          risk: { default: { maxOrdersPerSecond: 1e9, maxNotional: 1e12 } },
        },
        prices: { ESZ6: 100 },
      },
      "started",
      120_000,
    );
    log(`gateway started in ${started.startMs.toFixed(0)} ms`);
    const gw = child;
    const samples: Sample[] = [];
    const sample = async (phase: string, after: number) => {
      const s = await gw.request({ cmd: "sample" }, "sample", 60_000);
      if (s.failed !== null) throw new Error(`the gateway failed: ${s.failed}`);
      samples.push({ phase, after, rssMiB: s.rssBytes / MiB, heapMiB: s.heapUsedBytes / MiB });
      log(
        `${phase} ${after}: rss ${(s.rssBytes / MiB).toFixed(0)} MiB, heap ${(s.heapUsedBytes / MiB).toFixed(0)} MiB`,
      );
      return s;
    };
    await sample("start", 0);

    control = new GatewayClient({ address: started.controlAddress });
    await control.fence("ACC-0", "dep-soak", 1n);
    await control.fence("ACC-K", "dep-soak", 1n);
    await control.kill("ACC-K", "soak: every order refused");

    peer = await GatewayPeer.start();
    const flood = async (account: string, prefix: string, n: number) => {
      const r = await (peer as GatewayPeer).request(
        {
          cmd: "flood",
          address: started.ordersAddress,
          n,
          prefix,
          quietMs: 30_000,
          perMessage: 64,
          deploymentId: "dep-soak",
          epoch: "1",
          account,
        },
        "flooded",
        600_000,
      );
      return r;
    };

    const finals = { fresh: 0, fills: 0, refused: 0, rejects: {} as Record<string, number> };
    const t0 = performance.now();
    for (let done = 0; done < args.fresh;) {
      const n = Math.min(SAMPLE_EVERY, args.fresh - done);
      const r = await flood("ACC-0", `f${done}`, n);
      finals.fresh += r.finals;
      finals.fills += r.fills;
      for (const [code, k] of Object.entries(r.rejects))
        finals.rejects[code] = (finals.rejects[code] ?? 0) + k;
      done += n;
      await sample("fresh", done);
    }
    const freshRate = args.fresh / ((performance.now() - t0) / 1000);

    // One 64 MiB frame: an envelope whose order carries a 64 MiB field.
    const big = await bigFrame(started.ordersAddress);
    log(`64 MiB frame: ${big}`);
    await sample("64MiB", 1);

    const half = Math.floor(args.refused / 2);
    const refusedPlan: [string, string, number][] = [
      ["ACC-UNFENCED", "r-unfenced", half],
      ["ACC-K", "r-killed", args.refused - half],
    ];
    let refusedDone = 0;
    for (const [account, prefix, total] of refusedPlan) {
      for (let done = 0; done < total;) {
        const n = Math.min(SAMPLE_EVERY, total - done);
        const r = await flood(account, `${prefix}${done}`, n);
        finals.refused += r.finals;
        for (const [code, k] of Object.entries(r.rejects))
          finals.rejects[code] = (finals.rejects[code] ?? 0) + k;
        done += n;
        refusedDone += n;
        await sample("refused", refusedDone);
      }
    }
    const last = await sample("end", 0);
    const path = join(dir, DB_FILE);
    const sizes = {
      dbMiB: fileBytes(path) / MiB,
      walMiB: fileBytes(`${path}-wal`) / MiB,
      ...auditSize(path),
    };
    const survived = last.failed === null;

    // Flat: after the first 100,000 fresh ids (the window of recent ids is full by then), the
    // last sample of the fresh ids is within 10% of the first in resident memory (the goal); the
    // live heap's ratio is reported beside it.
    const freshSamples = samples.filter((s) => s.phase === "fresh");
    const first = freshSamples[0];
    const lastFresh = freshSamples.at(-1);
    const growth = (pick: (s: Sample) => number, to: Sample | undefined) =>
      first !== undefined && to !== undefined && pick(first) > 0 ? pick(to) / pick(first) : 0;
    const rssGrowthOverFresh = growth((s) => s.rssMiB, lastFresh);
    const heapGrowthOverFresh = growth((s) => s.heapMiB, lastFresh);
    const result = {
      ids: args.ids,
      fresh: args.fresh,
      refused: args.refused,
      prefillSeconds: prefillS,
      startMs: started.startMs,
      lookupUs: lookup,
      freshOrdersPerSecond: freshRate,
      finals,
      bigFrame: big,
      samples,
      rssGrowthOverFresh,
      heapGrowthOverFresh,
      rssGrowthToEnd: growth((s) => s.rssMiB, samples.at(-1)),
      sizes,
      status: last.status,
      survived,
      goals: {
        survives: survived,
        memoryFlat: rssGrowthOverFresh > 0 && rssGrowthOverFresh <= 1.1,
        startUnder2s: started.startMs <= 2_000,
      },
    };
    if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else printTable(result);
  } finally {
    await control?.close();
    await peer?.close();
    await child?.close();
    cleanup();
  }
}

/** Sends one 64 MiB frame; says what came back within 30 s. */
async function bigFrame(address: string): Promise<string> {
  const d = new zmq.Dealer({ linger: 0, receiveTimeout: 30_000 });
  d.connect(address);
  try {
    const pad = "x".repeat(64 * MiB);
    const frame = `{"deploymentId":"dep-soak","epoch":"1","account":"ACC-0","clientOrderId":"big-1","sentAtUnixMs":${Date.now()},"order":{"account":"ACC-0","clientOrderId":"big-1","symbol":"ESZ6","side":"buy","qty":1,"type":"market","pad":"${pad}"}}`;
    await d.send(frame);
    try {
      const [reply] = await d.receive();
      const r = JSON.parse(String(reply)) as { type: string; code?: string };
      return r.type === "reject" ? `refused: reject ${r.code ?? "?"}` : `answered ${r.type}`;
    } catch {
      return "no reply within 30 s (dropped by the socket?)";
    }
  } finally {
    d.close();
  }
}

/** The audit table's rows and bytes (SQLite's dbstat), read beside the running gateway. */
function auditSize(path: string): { auditRows: number; auditMiB: number } {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare("SELECT count(*) FROM audit").pluck().get() as number;
    let bytes = 0;
    try {
      bytes = db.prepare("SELECT sum(pgsize) FROM dbstat WHERE name = 'audit'").pluck().get() as number;
    } catch {
      bytes = Number.NaN; // SQLite built without dbstat
    }
    return { auditRows: rows, auditMiB: bytes / MiB };
  } finally {
    db.close();
  }
}

function printTable(r: {
  ids: number;
  fresh: number;
  refused: number;
  prefillSeconds: number;
  startMs: number;
  lookupUs: LookupFigures;
  freshOrdersPerSecond: number;
  finals: { fresh: number; fills: number; refused: number; rejects: Record<string, number> };
  bigFrame: string;
  samples: Sample[];
  rssGrowthOverFresh: number;
  heapGrowthOverFresh: number;
  rssGrowthToEnd: number;
  sizes: { dbMiB: number; walMiB: number; auditRows: number; auditMiB: number };
  survived: boolean;
  goals: Record<string, boolean>;
}): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(
    `gateway soak: ${r.ids} retained ids pre-filled (${r.prefillSeconds.toFixed(0)} s), ${r.fresh} fresh, ${r.refused} refused`,
  );
  out("");
  out("id lookup, µs            this run    floor (Map.get)   ratio");
  const l = r.lookupUs;
  out(
    `  retained id (disk)   ${l.retainedUs.toFixed(2).padStart(10)}   ${l.mapFloorUs.toFixed(3).padStart(15)}   ${(l.retainedUs / l.mapFloorUs).toFixed(1)}×`,
  );
  out(
    `  unseen id (disk)     ${l.unseenUs.toFixed(2).padStart(10)}   ${l.mapFloorUs.toFixed(3).padStart(15)}   ${(l.unseenUs / l.mapFloorUs).toFixed(1)}×`,
  );
  out("");
  out(`start-up with every id retained: ${r.startMs.toFixed(0)} ms (goal ≤ 2000)`);
  out(
    `fresh ids: ${r.freshOrdersPerSecond.toFixed(0)} orders/s; finals ${r.finals.fresh}, fills ${r.finals.fills}`,
  );
  out(`refused finals: ${r.finals.refused}; rejects by code: ${JSON.stringify(r.finals.rejects)}`);
  out(`64 MiB frame: ${r.bigFrame}`);
  out("");
  out("phase      after      rss MiB   live heap MiB (after a full GC)");
  for (const s of r.samples)
    out(
      `${s.phase.padEnd(9)} ${String(s.after).padStart(8)}   ${s.rssMiB.toFixed(0).padStart(8)}   ${s.heapMiB.toFixed(0).padStart(8)}`,
    );
  out(
    `last/first fresh sample: rss ${r.rssGrowthOverFresh.toFixed(2)} (goal ≤ 1.10), live heap ${r.heapGrowthOverFresh.toFixed(2)}; rss end/first: ${r.rssGrowthToEnd.toFixed(2)}`,
  );
  out("");
  out(
    `database ${r.sizes.dbMiB.toFixed(0)} MiB, WAL ${r.sizes.walMiB.toFixed(0)} MiB, audit ${r.sizes.auditRows} rows / ${r.sizes.auditMiB.toFixed(0)} MiB`,
  );
  out(`survived: ${r.survived}; goals: ${JSON.stringify(r.goals)}`);
}

await main();
