/**
 * The cluster's PKI: who a runner is, proven by a certificate from the cluster CA.
 *
 * Start with `cluster-ca.ts` (the CA on disk; node and orchestrator certificates), then
 * `node-csr.ts` (a runner's signing request and the orchestrator's signature of it, for the
 * join-token bootstrap), `join-tokens.ts` (one-time tokens, stored hashed), `peer-identity.ts`
 * (the node id and key fingerprint in a verified peer certificate) and `tls-files.ts` (reading a
 * CA, certificate and 0600 key). Certificates are made with @peculiar/x509 on Node's WebCrypto
 * (`x509.ts`), ECDSA P-256 throughout; nothing here writes ASN.1 by hand.
 */
export {
  CA_FILES,
  caPaths,
  DEFAULT_CA_DAYS,
  DEFAULT_CERT_DAYS,
  initClusterCa,
  issueNodeCertificate,
  issueNodePem,
  issueServerCertificate,
  issueServerPem,
  loadClusterCa,
  readCertificateFile,
  writeIssued,
  type ClusterCa,
  type IssuedPem,
  type IssueOptions,
} from "./cluster-ca.ts";
export { DEFAULT_JOIN_TOKEN_TTL_MS, JOIN_TOKEN_DIR, JoinTokens, type JoinTokenInfo } from "./join-tokens.ts";
export { createNodeCsr, readNodeCsr, signNodeCsr } from "./node-csr.ts";
export { NODE_ID_PATTERN, nodeIdOfUri, nodeUri } from "./node-name.ts";
export {
  peerIdentityOf,
  peerIdentityOfPem,
  publicKeyFingerprint,
  spkiFingerprint,
  type PeerIdentity,
} from "./peer-identity.ts";
export { readTlsFiles, type TlsFiles, type TlsMaterial } from "./tls-files.ts";
