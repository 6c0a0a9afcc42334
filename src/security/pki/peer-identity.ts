/**
 * Who is at the other end of a TLS connection, from the certificate it presented (already
 * verified against the cluster CA by the TLS stack): its node id, from the certificate's
 * `hive://node/<id>` URI (and matching CN), and its identity, the SHA-256 of its public key.
 * Two sessions of the same node are the same runner when their keys are the same: a certificate
 * re-issued for the same key stays the same identity; a new key is a new identity.
 */
import { createHash } from "node:crypto";
import { nodeIdOfUri } from "./node-name.ts";
import { x509 } from "./x509.ts";

/** A node as its certificate names it. */
export interface PeerIdentity {
  readonly nodeId: string;
  /** SHA-256 of the certificate's SubjectPublicKeyInfo, hex. */
  readonly keyFingerprint: string;
}

/** The node identity in a certificate (DER), or the reason it names none. */
export function peerIdentityOf(der: Uint8Array): PeerIdentity | { readonly refused: string } {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch {
    return { refused: "the client certificate cannot be parsed" };
  }
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku?.usages.includes(x509.ExtendedKeyUsage.clientAuth)) {
    return { refused: `certificate "${cert.subject}" is not a client certificate (no clientAuth usage)` };
  }
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const ids = (san?.names.items ?? [])
    .filter((n) => n.type === "url")
    .map((n) => nodeIdOfUri(n.value))
    .filter((id): id is string => id !== undefined);
  const [nodeId] = ids;
  if (nodeId === undefined || ids.length !== 1) {
    return {
      refused: `certificate "${cert.subject}" names no single node (one hive://node/<id> URI expected)`,
    };
  }
  const cn = cert.subjectName.getField("CN");
  if (cn.length !== 1 || cn[0] !== nodeId) {
    return { refused: `certificate "${cert.subject}": its CN does not match its node URI (${nodeId})` };
  }
  return { nodeId, keyFingerprint: publicKeyFingerprint(cert) };
}

/** {@link peerIdentityOf} of a PEM certificate. */
export function peerIdentityOfPem(pem: string): PeerIdentity | { readonly refused: string } {
  try {
    return peerIdentityOf(new Uint8Array(new x509.X509Certificate(pem).rawData));
  } catch {
    return { refused: "not a PEM certificate" };
  }
}

/** SHA-256 of a certificate's SubjectPublicKeyInfo, hex. */
export function publicKeyFingerprint(cert: x509.X509Certificate): string {
  return createHash("sha256").update(new Uint8Array(cert.publicKey.rawData)).digest("hex");
}
