import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { silentLogger } from "../../core/logger.ts";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import {
  caPaths,
  initClusterCa,
  issueNodePem,
  loadClusterCa,
  writeIssued,
} from "../../security/pki/index.ts";
import { linkCredentials } from "./link-credentials.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

const base = { nodeId: "n1", orchestrators: ["https://127.0.0.1:1"] };

test("the node key and the join token must be 0600: refused with the path and the mode", async () => {
  const dir = dirs.make("hive-creds-");
  await initClusterCa(dir);
  const files = writeIssued(join(dir, "n1"), await issueNodePem(await loadClusterCa(dir), "n1"));
  const tls = { ca: caPaths(dir).cert, cert: files.cert, key: files.key };
  const ok = await linkCredentials({ ...base, tls, joinTokenFile: undefined }, silentLogger());
  assert.match(ok.tls?.cert ?? "", /BEGIN CERTIFICATE/);
  chmodSync(files.key, 0o644);
  await assert.rejects(
    linkCredentials({ ...base, tls, joinTokenFile: undefined }, silentLogger()),
    new RegExp(`private key ${files.key}: mode 0644 lets group or others read it; expected 0600`),
  );

  const token = join(dir, "join.token");
  writeFileSync(token, "abc.def\n", { mode: 0o600 });
  const clear = { ...base, orchestrators: ["http://127.0.0.1:1"], tls: undefined };
  assert.deepEqual(await linkCredentials({ ...clear, joinTokenFile: token }, silentLogger()), {
    joinToken: "abc.def",
  });
  chmodSync(token, 0o640);
  await assert.rejects(
    linkCredentials({ ...clear, joinTokenFile: token }, silentLogger()),
    new RegExp(`join token file ${token}: mode 0640`),
  );
});

test("no certificate and no join token: refused with what to do", async () => {
  const dir = dirs.make("hive-creds-");
  await initClusterCa(dir);
  const tls = { ca: caPaths(dir).cert, cert: join(dir, "none.crt"), key: join(dir, "none.key") };
  await assert.rejects(
    linkCredentials({ ...base, tls, joinTokenFile: undefined }, silentLogger()),
    /none\.crt: missing; issue one \(hive ca issue node n1\) or give joinTokenFile/,
  );
});
