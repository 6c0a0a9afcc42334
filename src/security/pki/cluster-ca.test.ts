import assert from "node:assert/strict";
import { chmodSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as tls from "node:tls";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import {
  caPaths,
  initClusterCa,
  issueNodePem,
  issueServerPem,
  loadClusterCa,
  writeIssued,
  type IssuedPem,
} from "./cluster-ca.ts";
import { createNodeCsr, signNodeCsr } from "./node-csr.ts";
import { peerIdentityOf, peerIdentityOfPem, spkiFingerprint } from "./peer-identity.ts";
import { generateKeyPair, SIGNING_ALGORITHM, x509 } from "./x509.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

/**
 * A real TLS handshake on loopback between a server with `server`'s certificate requiring a
 * client certificate from `ca`, and a client with `client`'s (or none) trusting `ca`. Resolves
 * with what each side saw.
 */
async function handshake(o: {
  ca: string;
  clientCa?: string;
  server: IssuedPem;
  client?: IssuedPem;
  servername?: string;
}): Promise<{ clientError?: string; serverAuthorized: boolean; peer?: Uint8Array }> {
  let serverSide: { authorized: boolean; peer?: Uint8Array } = { authorized: false };
  const server = tls.createServer(
    { ca: o.ca, cert: o.server.certPem, key: o.server.keyPem, requestCert: true, rejectUnauthorized: false },
    (socket) => {
      const peer = socket.getPeerCertificate();
      serverSide = { authorized: socket.authorized, peer: peer.raw };
      socket.end("ok");
    },
  );
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as { port: number }).port;
  try {
    const clientError = await new Promise<string | undefined>((done) => {
      const socket = tls.connect({
        host: "127.0.0.1",
        port,
        servername: o.servername,
        ca: o.clientCa ?? o.ca,
        ...(o.client ? { cert: o.client.certPem, key: o.client.keyPem } : {}),
      });
      socket.once("secureConnect", () => socket.once("data", () => (socket.end(), done(undefined))));
      socket.once("error", (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    });
    return { clientError, serverAuthorized: serverSide.authorized, peer: serverSide.peer };
  } finally {
    await new Promise((ok) => server.close(ok));
  }
}

describe("the cluster CA", () => {
  test("init makes a 0700 directory with a 0600 key and a CA certificate, and never replaces it", async () => {
    const dir = join(dirs.make("hive-ca-"), "ca");
    const paths = await initClusterCa(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(paths.key).mode & 0o777, 0o600);
    const cert = new x509.X509Certificate(readFileSync(paths.cert, "utf8"));
    assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, true);
    assert.ok(await cert.isSelfSigned());
    await assert.rejects(initClusterCa(dir), /a CA key exists already/);
  });

  test("a CA key others can read is refused with its path and mode", async () => {
    const dir = dirs.make("hive-ca-");
    const { key } = await initClusterCa(dir);
    chmodSync(key, 0o640);
    await assert.rejects(loadClusterCa(dir), (err: Error) => {
      assert.match(err.message, new RegExp(`${key}: mode 0640`));
      return true;
    });
  });

  test("a node certificate names the node (CN and URI), is clientAuth only, and chains to the CA", async () => {
    const dir = dirs.make("hive-ca-");
    await initClusterCa(dir);
    const ca = await loadClusterCa(dir);
    const node = await issueNodePem(ca, "live-7");
    const cert = new x509.X509Certificate(node.certPem);
    assert.equal(cert.subject, "CN=live-7");
    assert.deepEqual(
      [...(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
      [x509.ExtendedKeyUsage.clientAuth],
    );
    assert.ok(await cert.verify({ publicKey: ca.cert.publicKey }));
    const id = peerIdentityOf(new Uint8Array(cert.rawData));
    assert.ok("nodeId" in id);
    assert.equal(id.nodeId, "live-7");
    await assert.rejects(issueNodePem(ca, "../etc"), /node id/);
  });

  test("an orchestrator certificate is no node's identity", async () => {
    const dir = dirs.make("hive-ca-");
    await initClusterCa(dir);
    const ca = await loadClusterCa(dir);
    const server = await issueServerPem(ca, ["localhost", "127.0.0.1"]);
    const id = peerIdentityOf(new Uint8Array(new x509.X509Certificate(server.certPem).rawData));
    assert.ok("refused" in id);
    assert.match(id.refused, /not a client certificate/);
  });

  test("mutual TLS on loopback: a node certificate of the CA is accepted, one of another CA is not", async () => {
    const dir = dirs.make("hive-ca-");
    await initClusterCa(dir);
    const ca = await loadClusterCa(dir);
    const other = dirs.make("hive-ca-other-");
    await initClusterCa(other);
    const foreign = await loadClusterCa(other);
    const server = await issueServerPem(ca, ["localhost", "127.0.0.1"]);

    const good = await handshake({ ca: ca.certPem, server, client: await issueNodePem(ca, "n1") });
    assert.equal(good.clientError, undefined);
    assert.equal(good.serverAuthorized, true);
    const id = peerIdentityOf(good.peer ?? new Uint8Array());
    assert.ok("nodeId" in id && id.nodeId === "n1");

    const stranger = await handshake({ ca: ca.certPem, server, client: await issueNodePem(foreign, "n1") });
    assert.equal(stranger.serverAuthorized, false);
    const none = await handshake({ ca: ca.certPem, server });
    assert.equal(none.serverAuthorized, false);
    // The runner checks the orchestrator too: a server certificate of another CA is refused.
    const impostor = await handshake({
      ca: ca.certPem,
      server: await issueServerPem(foreign, ["127.0.0.1"]),
    });
    assert.match(impostor.clientError ?? "", /UNABLE_TO_VERIFY|SELF_SIGNED|unable to verify/i);
  });

  test("a signing request becomes a node certificate for its name and key", async () => {
    const dir = dirs.make("hive-ca-");
    await initClusterCa(dir);
    const ca = await loadClusterCa(dir);
    const { csrPem, keyPem } = await createNodeCsr("data-3");
    const signed = await signNodeCsr(ca, csrPem);
    assert.equal(signed.nodeId, "data-3");
    // The identity the orchestrator checks before it signs is the one the certificate then proves.
    const id = peerIdentityOfPem(signed.certPem);
    const csrKey = new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData;
    assert.ok("keyFingerprint" in id && id.keyFingerprint === spkiFingerprint(new Uint8Array(csrKey)));
    const server = await issueServerPem(ca, ["127.0.0.1"]);
    const r = await handshake({ ca: ca.certPem, server, client: { certPem: signed.certPem, keyPem } });
    assert.equal(r.serverAuthorized, true);
    // A request for a key its maker does not hold (signed with another) is refused.
    const [a, b] = [await generateKeyPair(), await generateKeyPair()];
    const forged = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=data-3",
      keys: { publicKey: a.publicKey, privateKey: b.privateKey },
      signingAlgorithm: SIGNING_ALGORITHM,
    });
    await assert.rejects(signNodeCsr(ca, forged.toString("pem")), /does not verify/);
    await assert.rejects(signNodeCsr(ca, "nonsense"), /PKCS#10/);
  });

  test("issued files: the key 0600, the certificate 0644", async () => {
    const dir = dirs.make("hive-ca-");
    await initClusterCa(dir);
    const paths = writeIssued(join(dir, "nodes", "n1"), await issueNodePem(await loadClusterCa(dir), "n1"));
    assert.equal(statSync(paths.key).mode & 0o777, 0o600);
    assert.equal(statSync(paths.cert).mode & 0o777, 0o644);
    assert.equal(caPaths(dir).cert, join(dir, "ca.crt"));
  });
});
