import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import { JOIN_TOKEN_DIR, JoinTokens } from "./join-tokens.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

test("a join token is spent once; a reused, expired, wrong or foreign one is refused", () => {
  let now = 1_000_000;
  const tokens = new JoinTokens(dirs.make("hive-jt-"), () => now);
  const a = tokens.create({ ttlMs: 60_000 });
  assert.deepEqual(tokens.spend(a.token, "n1"), { id: a.id });
  assert.throws(() => tokens.spend(a.token, "n1"), /was used already/);

  const b = tokens.create({ ttlMs: 60_000 });
  const [id, secret] = b.token.split(".");
  const wrong = `${id}.${(secret ?? "").replace(/^./, (c) => (c === "A" ? "B" : "A"))}`;
  assert.throws(() => tokens.spend(wrong, "n1"), /wrong secret/);
  now += 60_000;
  assert.throws(() => tokens.spend(b.token, "n1"), /expired/);

  const c = tokens.create({ node: "live-1" });
  assert.throws(() => tokens.spend(c.token, "live-2"), /is for node live-1, not live-2/);
  assert.deepEqual(tokens.spend(c.token, "live-1"), { id: c.id });

  assert.throws(() => tokens.spend("nonsense", "n1"), /malformed/);
  assert.throws(() => tokens.spend(`000000000000.${secret}`, "n1"), /unknown/);
  assert.deepEqual(
    tokens
      .list()
      .map((t) => t.state)
      .sort(),
    ["expired", "used", "used"],
  );
  assert.equal(tokens.prune(), 3);
  assert.deepEqual(tokens.list(), []);
});

test("only a hash of the secret is stored, in 0600 files", () => {
  const dir = dirs.make("hive-jt-");
  const { token } = new JoinTokens(dir).create();
  const folder = join(dir, JOIN_TOKEN_DIR);
  assert.equal(statSync(folder).mode & 0o777, 0o700);
  for (const f of readdirSync(folder)) {
    assert.equal(statSync(join(folder, f)).mode & 0o777, 0o600);
    assert.ok(!readFileSync(join(folder, f), "utf8").includes(token.split(".")[1] ?? "x"));
  }
});
