import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { FenceEntry } from "./gateway-control.ts";
import { checkFence, decideFence } from "./fence-rules.ts";

/** Applies decisions as the gateway does, returning the epochs accepted per account in order. */
function replay(commands: readonly { account: string; deploymentId: string; epoch: bigint }[]) {
  const table = new Map<string, FenceEntry>();
  const accepted = new Map<string, bigint[]>();
  for (const c of commands) {
    const decision = decideFence(table.get(c.account) ?? null, c.deploymentId, c.epoch);
    if (decision.kind === "advance") {
      table.set(c.account, {
        account: c.account,
        deploymentId: c.deploymentId,
        epoch: c.epoch.toString(),
        nodeKey: null,
        fencedAtUnixMs: 0,
      });
      accepted.set(c.account, [...(accepted.get(c.account) ?? []), c.epoch]);
    }
  }
  return { table, accepted };
}

const command = fc.record({
  account: fc.constantFrom("A", "B", "C"),
  deploymentId: fc.constantFrom("d1", "d2", "d3"),
  epoch: fc.bigInt({ min: 0n, max: 20n }),
});

test("any sequence of fence commands: accepted epochs per account strictly increase, and the entry holds the maximum", () => {
  fc.assert(
    fc.property(fc.array(command, { maxLength: 60 }), (commands) => {
      const { table, accepted } = replay(commands);
      for (const [account, epochs] of accepted) {
        for (let i = 1; i < epochs.length; i++) assert.ok((epochs[i] ?? 0n) > (epochs[i - 1] ?? 0n));
        const max = commands
          .filter((c) => c.account === account)
          .reduce((m, c) => (c.epoch > m ? c.epoch : m), -1n);
        assert.equal(table.get(account)?.epoch, max.toString());
      }
    }),
    { numRuns: 500 },
  );
});

test("any reordering of the same commands ends on the same epoch per account, never a lower one", () => {
  fc.assert(
    fc.property(
      fc
        .array(command, { minLength: 1, maxLength: 30 })
        .chain((commands) =>
          fc.tuple(fc.constant(commands), fc.shuffledSubarray(commands, { minLength: commands.length })),
        ),
      ([original, shuffled]) => {
        const a = replay(original).table;
        const b = replay(shuffled).table;
        for (const [account, entry] of a) assert.equal(b.get(account)?.epoch, entry.epoch);
      },
    ),
    { numRuns: 300 },
  );
});

/** Account A fenced to deployment d1 at epoch 5, naming `nodeKey` (null: no node). */
function d1At5(nodeKey: string | null): FenceEntry {
  return { account: "A", deploymentId: "d1", epoch: "5", nodeKey, fencedAtUnixMs: 1 };
}

test("the same deployment and epoch again is unchanged; the same epoch for another deployment is refused", () => {
  const current = d1At5(null);
  assert.equal(decideFence(current, "d1", 5n).kind, "unchanged");
  const refused = decideFence(current, "d2", 5n);
  assert.equal(refused.kind, "refused");
  assert.equal(decideFence(current, "d2", 4n).kind, "refused");
  assert.deepEqual(decideFence(current, "d2", 6n), { kind: "advance", previous: current });
  assert.deepEqual(decideFence(null, "d1", 0n), { kind: "advance", previous: null });
  // 2^64 - 1: epochs beyond a double's precision still compare exactly.
  const big: FenceEntry = { ...current, epoch: "18446744073709551614" };
  assert.equal(decideFence(big, "d2", 18446744073709551615n).kind, "advance");
  assert.equal(decideFence(big, "d2", 18446744073709551613n).kind, "refused");
});

test("the order check: no entry, another deployment, another epoch, the holder", () => {
  const entry = d1At5(null);
  assert.equal(checkFence(undefined, "d1", "5"), "not-fenced");
  assert.equal(checkFence(entry, "d2", "5"), "fenced");
  assert.equal(checkFence(entry, "d1", "4"), "stale-epoch");
  assert.equal(checkFence(entry, "d1", "6"), "stale-epoch");
  assert.equal(checkFence(entry, "d1", "5"), undefined);
  assert.equal(
    checkFence(entry, "d1", "5", "any-key"),
    undefined,
    "an entry naming no node takes any connection",
  );
});

const KEY_A = "A".repeat(40);
const KEY_B = "B".repeat(40);

test("a fence naming a node: its orders only from that node's connection, else wrong-node", () => {
  const entry = d1At5(KEY_A);
  assert.equal(checkFence(entry, "d1", "5", KEY_A), undefined);
  assert.equal(checkFence(entry, "d1", "5", KEY_B), "wrong-node");
  assert.equal(checkFence(entry, "d1", "5", undefined), "wrong-node", "a connection bound to no key");
  // The deployment and epoch are checked first: another node's stale envelope is stale-epoch.
  assert.equal(checkFence(entry, "d1", "4", KEY_B), "stale-epoch");
  assert.equal(checkFence(entry, "d2", "5", KEY_B), "fenced");
});

test("the same deployment and epoch with another node key rebinds it; a lower epoch cannot", () => {
  const entry = d1At5(KEY_A);
  assert.equal(decideFence(entry, "d1", 5n, KEY_A).kind, "unchanged");
  assert.deepEqual(decideFence(entry, "d1", 5n, KEY_B), { kind: "rebind", current: entry });
  assert.equal(decideFence(entry, "d1", 5n).kind, "rebind", "to no node: still the same instance");
  assert.equal(decideFence(entry, "d1", 4n, KEY_B).kind, "refused");
  assert.equal(decideFence(entry, "d2", 5n, KEY_B).kind, "refused");
  const legacy: FenceEntry = { ...entry, nodeKey: null };
  assert.equal(decideFence(legacy, "d1", 5n, KEY_A).kind, "rebind", "a fence from before node binding");
});
