/**
 * The two backtests, examples/programs/backtest.mjs (Node) and backtest.py (Python, standard
 * library only), as a runner starts them: the dataset comes from HIVE_DATASET_TICKS, results go
 * to a file. On the shipped sample both must write the same schema and the same trades, which is
 * what "a strategy in any language" promises. Also: the sample is exactly what its script makes.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Program, REPO, SAMPLE, startNode, tempDir } from "./example-kit.ts";

const PYTHON = "/usr/bin/python3";
const hasPython = existsSync(PYTHON);
/** Skips a Python test where there is no /usr/bin/python3, except under CI, where it fails. */
const python = hasPython || process.env.CI === "true" ? {} : { skip: `${PYTHON} is not installed` };

type Results = Record<string, unknown> & {
  trades: Record<string, unknown>[];
  params: Record<string, unknown>;
};

function startPython(args: readonly string[], env: Record<string, string>, cwd = REPO): Program {
  assert.ok(hasPython, `${PYTHON} is needed for the Python backtest (apt-get install python3)`);
  return new Program(PYTHON, [join("examples", "programs", "backtest.py"), ...args], env, cwd);
}

const readResults = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Results;

/** The shape of a value: key names and value types, recursively, the trades by their first item. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v)]));
  return value === null ? "null" : typeof value;
}

describe("backtest.mjs and backtest.py on the shipped sample", () => {
  const dir = tempDir("hive-bt-");
  after(() => dir.remove());
  const env = (id: string) => ({
    HIVE_DEPLOYMENT_ID: id,
    HIVE_LAYOUT: "backtest-momentum",
    HIVE_SERVICE: "sweep-medium",
    HIVE_NODE_ID: "dev-data-1",
    HIVE_DATASET_TICKS: SAMPLE,
    HIVE_RESULTS_DIR: join(dir.path, "results"),
  });
  let node: Results;
  let py: Results;

  before(async () => {
    const runs = [startNode("backtest.mjs", ["--lookback", "20"], env("dep-bt-node"))];
    if (python.skip === undefined) runs.push(startPython(["--lookback", "20"], env("dep-bt-py")));
    try {
      for (const run of runs) assert.deepEqual(await run.wait(30_000), { code: 0, signal: null }, run.stderr);
    } finally {
      for (const run of runs) run.kill();
    }
    node = readResults(join(dir.path, "results", "dep-bt-node.json"));
    if (python.skip === undefined) py = readResults(join(dir.path, "results", "dep-bt-py.json"));
  });

  test("the Node backtest replays every tick and trades", () => {
    assert.equal(node.schema, "hive.backtest-results/1");
    assert.equal(node.engine, "node");
    assert.equal(node.complete, true);
    assert.equal(node.ticksProcessed, 20_000);
    assert.equal(node.deploymentId, "dep-bt-node");
    assert.deepEqual(node.params, { lookback: 20, thresholdBps: 1, qty: 1, maxPosition: 2, symbols: null });
    assert.ok(node.trades.length > 10, `${node.trades.length} trades`);
    assert.equal(node.tradeCount, node.trades.length);
    assert.equal(typeof node.pnl, "number");
    assert.ok((node.maxDrawdown as number) >= 0);
    // Positions never pass the limit, and the last trade's position is the final one.
    for (const t of node.trades) assert.ok(Math.abs(t.position as number) <= 2);
    assert.deepEqual(node.positions, { ESU6: node.trades.at(-1)?.position });
  });

  test("the Python backtest writes the same schema, the same trades and the same figures", python, () => {
    assert.deepEqual(shape(py), shape(node));
    assert.equal(py.engine, "python");
    assert.deepEqual(py.trades, node.trades);
    for (const key of [
      "params",
      "complete",
      "ticksProcessed",
      "tradeCount",
      "positions",
      "pnl",
      "maxDrawdown",
    ])
      assert.deepEqual(py[key], node[key], key);
  });
});

describe("results paths, errors and SIGTERM", () => {
  const dir = tempDir("hive-bt-");
  after(() => dir.remove());

  for (const engine of ["node", "python"] as const) {
    const start = (args: string[], env: Record<string, string>, cwd?: string) =>
      engine === "node"
        ? new Program(
            process.execPath,
            [join(REPO, "examples", "programs", "backtest.mjs"), ...args],
            env,
            cwd,
          )
        : new Program(PYTHON, [join(REPO, "examples", "programs", "backtest.py"), ...args], env, cwd);
    const options = engine === "python" ? python : {};

    test(`${engine}: without HIVE_DATASET_TICKS it says so and exits 2`, options, async () => {
      const work = join(dir.path, `${engine}-missing`);
      mkdirSync(work);
      const run = start([], { HIVE_SERVICE: "sweep" }, work);
      try {
        assert.deepEqual(await run.wait(), { code: 2, signal: null });
        assert.match(run.stderr, /HIVE_DATASET_TICKS is not set/);
        assert.equal(existsSync(join(work, "results")), false, "no results file");
      } finally {
        run.kill();
      }
    });

    test(`${engine}: a malformed row names the file and line, exit 1`, options, async () => {
      const bad = join(dir.path, `${engine}-bad.csv`);
      writeFileSync(bad, "ts,symbol,bid,ask,last,size\n1,ESU6,1,1.25,1,1\n2,ESU6,x,1.25,1,1\n");
      const run = start(["--out", join(dir.path, `${engine}-bad.json`)], { HIVE_DATASET_TICKS: bad });
      try {
        assert.deepEqual(await run.wait(), { code: 1, signal: null });
        assert.match(run.stderr, new RegExp(`${bad}:3: bid: found "x", expected a number`));
      } finally {
        run.kill();
      }
    });

    test(
      `${engine}: with no --out nor HIVE_RESULTS_DIR it writes ./results/<service>.json`,
      options,
      async () => {
        const work = join(dir.path, `${engine}-cwd`);
        mkdirSync(work);
        const run = start(
          ["--lookback", "50"],
          { HIVE_DATASET_TICKS: SAMPLE, HIVE_SERVICE: "sweep-slow" },
          work,
        );
        try {
          assert.deepEqual(await run.wait(30_000), { code: 0, signal: null }, run.stderr);
          const results = readResults(join(work, "results", "sweep-slow.json"));
          assert.equal(results.params.lookback, 50);
          assert.equal(results.service, "sweep-slow");
          const done = await run.line((l) => l.event === "done", "the summary line");
          assert.equal(done.trades, results.tradeCount);
        } finally {
          run.kill();
        }
      },
    );

    test(
      `${engine}: SIGTERM stops a long replay early and writes partial results, exit 0`,
      options,
      async () => {
        // A directory dataset: forty copies of the sample, read in name order (800,000 ticks).
        const big = join(dir.path, `${engine}-big`);
        mkdirSync(big);
        for (let i = 0; i < 40; i++) symlinkSync(SAMPLE, join(big, `part-${String(i).padStart(2, "0")}.csv`));
        const out = join(dir.path, `${engine}-big.json`);
        const run = start(["--out", out, "--progress-every", "20000"], { HIVE_DATASET_TICKS: big });
        try {
          await run.line((l) => l.event === "progress", "the first progress line");
          run.child.kill("SIGTERM");
          assert.deepEqual(await run.wait(), { code: 0, signal: null }, run.stderr);
          const results = readResults(out);
          assert.equal(results.complete, false);
          const ticks = results.ticksProcessed as number;
          assert.ok(ticks >= 20_000 && ticks < 800_000, `${ticks} ticks`);
        } finally {
          run.kill();
        }
      },
    );
  }
});

test("the shipped sample is exactly what make-sample.mjs writes", () => {
  const dir = tempDir("hive-sample-");
  try {
    const out = join(dir.path, "sample.csv");
    execFileSync(process.execPath, [join(REPO, "examples", "data", "make-sample.mjs"), "--out", out], {
      stdio: "ignore",
      timeout: 30_000,
    });
    assert.ok(
      readFileSync(out).equals(readFileSync(SAMPLE)),
      "regenerate it: node examples/data/make-sample.mjs",
    );
  } finally {
    dir.remove();
  }
});
