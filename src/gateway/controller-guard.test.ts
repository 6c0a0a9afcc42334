/**
 * One controller per gateway, against a real gateway (its ZeroMQ control socket on 127.0.0.1, its
 * SQLite file): the first fence records its controller; every steering op of another controller
 * (or of a client naming none) is refused with a WrongControllerError naming both ids and moves
 * nothing; reads stay open; a refused fence carries the highest epoch; `reassign` is a
 * compare-and-set, audited, and survives a restart.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { readAudit } from "./audit-archive.ts";
import { GatewayClient } from "./control-client.ts";
import { MAX_REFUSED_CALLERS, ControllerGuard } from "./controller-guard.ts";
import { WRONG_CONTROLLER, WrongControllerError } from "./controller-record.ts";
import { openGatewayDb } from "./gateway-db.ts";
import { startGateway, type RunningGateway } from "./gateway-server.ts";
import { freePort } from "./testing/order-client.ts";

const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(dir: string, control: string): Promise<RunningGateway> {
  return startGateway({
    stateDir: dir,
    ordersListen: "tcp://127.0.0.1:0",
    controlListen: control,
    insecure: true,
  });
}

/** A gateway on a fresh state directory and control port. */
async function fresh(prefix: string): Promise<{ dir: string; address: string; gw: RunningGateway }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  const address = `tcp://127.0.0.1:${await freePort()}`;
  return { dir, address, gw: await start(dir, address) };
}

/** Asserts that `call` is refused as another controller's, naming `holder` and `caller`. */
async function refusedAsWrongController(call: Promise<unknown>, holder: string, caller: string | null) {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof WrongControllerError, `expected a WrongControllerError, got ${String(err)}`);
    assert.equal(err.code, ErrorCode.PermissionDenied);
    assert.equal(err.holder, holder);
    assert.equal(err.caller, caller);
    assert.match(err.message, new RegExp(`${WRONG_CONTROLLER}: .*controlled by cluster ${holder}`));
    assert.match(err.message, caller === null ? /names no controller/ : new RegExp(`from cluster ${caller}`));
    assert.match(err.message, new RegExp(`hive gateway reassign <gateway> --from ${holder}`));
    return true;
  });
}

test("the first fence records its controller; another's steering ops are refused and move nothing; reads stay open", async () => {
  const { dir, address, gw } = await fresh("hive-gw-ctl-");
  const a = new GatewayClient({ address, controller: A, timeoutMs: 2_000 });
  const b = new GatewayClient({ address, controller: B, timeoutMs: 2_000 });
  const anonymous = new GatewayClient({ address, timeoutMs: 2_000 });
  try {
    assert.equal((await b.status()).controller, null, "no controller before the first fence");
    assert.ok((await a.fence("ACC", "dep-a", 5n)).ok);
    assert.equal((await a.status()).controller?.clusterId, A);

    await refusedAsWrongController(b.fence("ACC", "dep-b", 100n), A, B);
    await refusedAsWrongController(b.fence("OTHER", "dep-b", 100n), A, B);
    await refusedAsWrongController(b.kill("ACC", "not yours"), A, B);
    await refusedAsWrongController(b.unkill("ACC"), A, B);
    await refusedAsWrongController(b.marketData(["tcp://127.0.0.1:1"]), A, B);
    await refusedAsWrongController(anonymous.fence("ACC", "dep-x", 100n), A, null);

    // Nothing moved: the account is still A's deployment's, at its epoch, not killed.
    const [acc] = await b.accounts("ACC");
    assert.deepEqual([acc?.fence?.deploymentId, acc?.fence?.epoch, acc?.killed], ["dep-a", "5", false]);
    assert.deepEqual(await b.accounts("OTHER"), []);
    assert.equal((await b.status()).controllerRefusals, 6);
    assert.deepEqual(await b.nodes(), {});

    // One audit row for B's five refusals in the same minute, one for the anonymous one.
    const rows = readAudit(dir, {}).filter((r) => r.kind === "controller");
    assert.deepEqual(
      rows.map((r) => [r.outcome, r.code]),
      [
        ["claimed", null],
        ["refused", "wrong-controller"],
        ["refused", "wrong-controller"],
      ],
    );
    assert.deepEqual(JSON.parse(rows[1]?.detail ?? "{}"), {
      op: "fence",
      holder: A,
      caller: B,
      refusedSinceLastRow: 1,
    });

    // A refused fence carries the highest epoch the gateway holds, over every account.
    assert.ok((await a.fence("HIGH", "dep-h", 40n)).ok);
    const stale = await a.fence("ACC", "dep-a2", 3n);
    assert.equal(stale.ok, false);
    assert.equal(!stale.ok && stale.highestEpoch, "40");
  } finally {
    await Promise.all([a.close(), b.close(), anonymous.close()]);
    await gw.close();
  }
});

test("reassign: a compare-and-set on --from, audited; the old controller is refused after it, across a restart", async () => {
  const started = await fresh("hive-gw-reassign-");
  const { dir, address } = started;
  let gw = started.gw;
  const a = new GatewayClient({ address, controller: A, timeoutMs: 2_000 });
  const b = new GatewayClient({ address, controller: B, timeoutMs: 2_000 });
  try {
    // A gateway nobody holds is taken with --from none.
    await assert.rejects(
      b.reassign(A),
      (err: unknown) =>
        err instanceof HiveError &&
        err.code === ErrorCode.FailedPrecondition &&
        /controlled by no cluster yet, not by 1111.*; expected --from none/.test(err.message),
    );
    const taken = await a.reassign("none", "ops");
    assert.deepEqual([taken.previous, taken.controller.clusterId, taken.highestEpoch], [null, A, "0"]);
    assert.ok((await a.fence("ACC", "dep-a", 7n)).ok);

    // B must name A to take it.
    await assert.rejects(
      b.reassign("someone-else", "ops"),
      (err: unknown) =>
        err instanceof HiveError &&
        err.code === ErrorCode.FailedPrecondition &&
        new RegExp(`controlled by cluster ${A}, not by someone-else; expected --from ${A}`).test(err.message),
    );
    const moved = await b.reassign(A, "token t1 (alice)");
    assert.deepEqual(
      [moved.previous?.clusterId, moved.controller.clusterId, moved.highestEpoch],
      [A, B, "7"],
    );
    await refusedAsWrongController(a.fence("ACC", "dep-a", 8n), B, A);
    assert.ok((await b.fence("ACC", "dep-b", 8n)).ok);

    // The record survives a restart.
    await gw.close();
    gw = await start(dir, address);
    await refusedAsWrongController(a.kill("ACC", "x"), B, A);
    assert.equal((await b.status()).controller?.clusterId, B);

    const rows = readAudit(dir, {}).filter((r) => r.kind === "controller" && r.outcome === "reassigned");
    assert.deepEqual(
      rows.map((r) => JSON.parse(r.detail ?? "{}") as unknown),
      [
        { from: null, to: A, by: "ops" },
        { from: A, to: B, by: "token t1 (alice)" },
      ],
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
    await gw.close();
  }
});

test("a controller id that is not a printable string of at most 100 characters is refused", async () => {
  const { address, gw } = await fresh("hive-gw-ctl-bad-");
  const bad = new GatewayClient({ address, controller: "x".repeat(101), timeoutMs: 2_000 });
  try {
    await assert.rejects(
      bad.fence("ACC", "dep", 1n),
      (err: unknown) =>
        err instanceof HiveError &&
        err.code === ErrorCode.InvalidArgument &&
        /controller: expected a cluster id/.test(err.message),
    );
    await assert.rejects(
      bad.status(),
      /controller: expected a cluster id/,
      "reads too: the field is malformed",
    );
    assert.deepEqual(gw.accounts(), [], "nothing fenced");
  } finally {
    await bad.close();
    await gw.close();
  }
});

test("refusals of any number of distinct callers keep bounded state, and every refusal is counted in a row", () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-ctl-guard-"));
  const state = openGatewayDb(dir);
  try {
    let now = 1_000_000;
    const guard = new ControllerGuard(state.db, () => now);
    guard.fenced("cluster-a");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.nat(5_000)), { maxLength: 300 }),
        (calls) => {
          for (const [caller, step] of calls) {
            now += step;
            if (caller === "cluster-a") continue;
            assert.throws(() => guard.check("fence", caller), WrongControllerError);
            assert.ok(guard.trackedCallers <= MAX_REFUSED_CALLERS, `${guard.trackedCallers} callers tracked`);
          }
        },
      ),
      { numRuns: 30 },
    );
    // Every refusal is in a row, or still counted for its caller's next one.
    const rows = readAudit(dir).filter((r) => r.kind === "controller" && r.outcome === "refused");
    const inRows = rows.reduce(
      (sum, r) => sum + (JSON.parse(r.detail ?? "{}") as { refusedSinceLastRow: number }).refusedSinceLastRow,
      0,
    );
    assert.equal(inRows + guard.pendingRefusals, guard.refused);
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
