/**
 * Who is at the other end of a TLS connection, from the certificate it presented (already
 * verified against the cluster CA by the TLS stack): its node id, from the certificate's
 * `hive://node/<id>` URI (and matching CN), and its identity, the SHA-256 of its public key.
 * Two sessions of the same node are the same runner when their keys are the same: a certificate
 * re-issued for the same key stays the same identity; a new key is a new identity.
 *
 * Read with Node's own X509Certificate (OpenSSL's parser): it runs on every runner connection,
 * and a reconnecting fleet makes thousands of them at once.
 */
import { createHash, X509Certificate } from "node:crypto";
import { nodeIdOfUri } from "./node-name.ts";

/** A node as its certificate names it. */
export interface PeerIdentity {
  readonly nodeId: string;
  /** SHA-256 of the certificate's SubjectPublicKeyInfo, hex. */
  readonly keyFingerprint: string;
}

/** The OID of the clientAuth extended key usage. */
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** The node identity in a certificate (DER or PEM), or the reason it names none. */
export function peerIdentityOf(cert: Uint8Array | string): PeerIdentity | { readonly refused: string } {
  let x: X509Certificate;
  try {
    x = new X509Certificate(typeof cert === "string" ? cert : Buffer.from(cert));
  } catch {
    return { refused: "the client certificate cannot be parsed" };
  }
  const subject = x.subject.replace(/\n/g, ", ");
  if (!(x.keyUsage ?? []).includes(CLIENT_AUTH)) {
    return { refused: `certificate "${subject}" is not a client certificate (no clientAuth usage)` };
  }
  // Node lists the names as `DNS:a, URI:b, ...`; a URI with a comma is not a node's anyway.
  const ids = (x.subjectAltName ?? "")
    .split(", ")
    .filter((n) => n.startsWith("URI:"))
    .map((n) => nodeIdOfUri(n.slice(4)));
  const [nodeId] = ids;
  if (nodeId === undefined || ids.length !== 1) {
    return { refused: `certificate "${subject}" names no single node (one hive://node/<id> URI expected)` };
  }
  if (x.subject !== `CN=${nodeId}`) {
    return { refused: `certificate "${subject}": its subject is not CN=${nodeId}, as its node URI says` };
  }
  return { nodeId, keyFingerprint: publicKeyFingerprint(x) };
}

/** {@link peerIdentityOf} of a PEM certificate. */
export function peerIdentityOfPem(pem: string): PeerIdentity | { readonly refused: string } {
  return peerIdentityOf(pem);
}

/** SHA-256 of a certificate's SubjectPublicKeyInfo, hex. */
export function publicKeyFingerprint(cert: X509Certificate): string {
  return spkiFingerprint(cert.publicKey.export({ type: "spki", format: "der" }));
}

/** SHA-256 of a SubjectPublicKeyInfo (DER), hex: a node's identity (also of a signing request's key). */
export function spkiFingerprint(spki: Uint8Array): string {
  return createHash("sha256").update(spki).digest("hex");
}
