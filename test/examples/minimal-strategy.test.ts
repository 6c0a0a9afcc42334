/**
 * The minimal strategies that docs/strategies.md prints, in Node and in Python (pyzmq), run
 * against a fake post office; and the document prints them exactly as they are in the repo.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FakePostOffice, Program, REPO, startNode, tempDir } from "./example-kit.ts";

const PYTHON = "/usr/bin/python3";

/** pyzmq is not on every machine: `apt-get install python3-zmq` (the Python test skips without it). */
const pythonEnv: Record<string, string> = {};
for (const name of ["PYTHONPATH", "LD_LIBRARY_PATH"]) {
  const value = process.env[name];
  if (value !== undefined) pythonEnv[name] = value;
}
const probe = spawnSync(PYTHON, ["-c", "import zmq"], {
  env: { ...pythonEnv, PATH: process.env.PATH },
  timeout: 10_000,
});
if (probe.status !== 0 && process.env.CI === "true") {
  // CI installs python3-zmq (scripts/install-system-deps.sh): its absence there is a failure.
  throw new Error(`CI=true: pyzmq is not installed for ${PYTHON} (apt-get install python3-zmq)`);
}
const pyzmq =
  probe.status === 0 ? {} : { skip: `pyzmq is not installed for ${PYTHON} (apt-get install python3-zmq)` };

/** Feeds ticks until the strategy orders, answers with an ack, and stops it with SIGTERM. */
async function exercise(start: (env: Record<string, string>) => Program): Promise<void> {
  const dir = tempDir("hive-min-");
  const postOffice = new FakePostOffice(dir.path);
  await postOffice.bind();
  const strategy = start({
    HIVE_DEPLOYMENT_ID: "dep-min-1",
    HIVE_SOCKET_MARKET_DATA: postOffice.marketDataEndpoint,
    HIVE_SOCKET_ORDERS: postOffice.ordersEndpoint,
  });
  try {
    await postOffice.subscribed();
    await postOffice.tick(6400);
    const { peer, order } = await postOffice.nextOrder();
    assert.equal(order.account, "paper-001");
    assert.match(order.clientOrderId, /^dep-min-1-[0-9a-z]+-1$/);
    assert.deepEqual([order.symbol, order.side, order.qty, order.type], ["ESZ6", "buy", 1, "market"]);
    await postOffice.reply(peer, { type: "ack", clientOrderId: order.clientOrderId });
    await strategy.line((l) => l.event === "text" && String(l.text).startsWith("reply ack"), "the ack");
    assert.deepEqual(await strategy.stop(), { code: 0, signal: null }, strategy.stderr);
  } finally {
    strategy.kill();
    postOffice.close();
    dir.remove();
  }
}

test("the minimal Node strategy orders on its first tick, prints the reply, exits 0 on SIGTERM", async () => {
  await exercise((env) => startNode("minimal-strategy.mjs", [], env));
});

test("the minimal Python strategy does the same with pyzmq", pyzmq, async () => {
  await exercise(
    (env) =>
      new Program(PYTHON, [join("examples", "programs", "minimal_strategy.py")], { ...pythonEnv, ...env }),
  );
});

test("docs/strategies.md prints both minimal strategies exactly as they are", () => {
  const doc = readFileSync(join(REPO, "docs", "strategies.md"), "utf8");
  for (const file of ["minimal-strategy.mjs", "minimal_strategy.py"]) {
    const source = readFileSync(join(REPO, "examples", "programs", file), "utf8");
    assert.ok(doc.includes(source), `docs/strategies.md should include examples/programs/${file} verbatim`);
  }
});
