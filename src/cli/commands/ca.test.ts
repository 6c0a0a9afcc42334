import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import { JoinTokens, peerIdentityOfPem } from "../../security/pki/index.ts";
import { ExitCode } from "../exit-codes.ts";
import { memoryIo } from "../io.ts";
import { main } from "../main.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

async function run(...args: string[]) {
  const io = memoryIo();
  const code = await main(["node", "hive", ...args], io);
  return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
}

test("hive ca: init, issue a node and an orchestrator certificate, a join token in a 0600 file", async () => {
  const dir = join(dirs.make("hive-ca-cli-"), "ca");
  const init = await run("ca", "init", "--dir", dir);
  assert.equal(init.code, ExitCode.Ok, init.err);
  assert.equal(statSync(join(dir, "ca.key")).mode & 0o777, 0o600);
  assert.notEqual(
    (await run("ca", "init", "--dir", dir)).code,
    ExitCode.Ok,
    "a second init replaces nothing",
  );

  const node = await run("ca", "issue", "node", "live-1", "--dir", dir);
  assert.equal(node.code, ExitCode.Ok, node.err);
  assert.equal(node.out, join(dir, "nodes", "live-1.crt"));
  const id = peerIdentityOfPem(readFileSync(node.out, "utf8"));
  assert.ok("nodeId" in id && id.nodeId === "live-1");
  assert.equal(statSync(join(dir, "nodes", "live-1.key")).mode & 0o777, 0o600);

  const orch = await run(
    "ca",
    "issue",
    "orchestrator",
    "--dir",
    dir,
    "--name",
    "localhost",
    "--name",
    "127.0.0.1",
  );
  assert.equal(orch.code, ExitCode.Ok, orch.err);
  assert.equal((await run("ca", "issue", "orchestrator", "--dir", dir)).code, ExitCode.BadInput);

  const file = join(dir, "..", "join.token");
  const token = await run(
    "ca",
    "join-token",
    "create",
    "--dir",
    dir,
    "--out",
    file,
    "--node",
    "live-2",
    "--ttl",
    "30m",
  );
  assert.equal(token.code, ExitCode.Ok, token.err);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.ok(!token.out.includes(readFileSync(file, "utf8").trim()), "the token itself is not printed");
  assert.deepEqual(new JoinTokens(dir).spend(readFileSync(file, "utf8"), "live-2"), { id: token.out });
  const list = await run("ca", "join-token", "list", "--dir", dir);
  assert.match(list.out, new RegExp(`^${token.out}  used +\\S+  live-2$`));
  assert.equal(
    (await run("ca", "join-token", "create", "--dir", dir, "--out", join(dir, "x"), "--ttl", "soon")).code,
    ExitCode.BadInput,
  );
});
