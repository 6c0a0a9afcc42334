/**
 * A node's certificate signing request, both ends: the runner makes a key pair and a PKCS#10
 * request naming its node id (CN = id); the orchestrator checks the request's own signature
 * (proof that the requester holds the key) and signs a node certificate for that id, with the
 * profile of cluster-ca.ts whatever the request asked for (only the name and the key are taken).
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { issueNodeCertificate, type ClusterCa, type IssueOptions } from "./cluster-ca.ts";
import { NODE_ID_PATTERN } from "./node-name.ts";
import { generateKeyPair, privateKeyToPem, SIGNING_ALGORITHM, x509 } from "./x509.ts";

/** A fresh key pair and a request for a certificate of node `nodeId`: the request as PEM, the key as PKCS#8 PEM. */
export async function createNodeCsr(nodeId: string): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${nodeId}`,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return { csrPem: csr.toString("pem"), keyPem: await privateKeyToPem(keys.privateKey) };
}

/** The longest signing request read, in characters of PEM. */
export const MAX_CSR_PEM_CHARS = 16 * 1024;

/** The node id a request names (its subject's CN), after checking its signature; PermissionDenied otherwise. */
export async function readNodeCsr(
  csrPem: string,
): Promise<{ nodeId: string; csr: x509.Pkcs10CertificateRequest }> {
  // A P-256 request is about 500 bytes of PEM: a bigger one is refused before it is decoded.
  if (csrPem.length > MAX_CSR_PEM_CHARS)
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `the signing request is ${csrPem.length} characters; expected a PEM request of at most ${MAX_CSR_PEM_CHARS}`,
    );
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new HiveError(ErrorCode.InvalidArgument, "not a PEM certificate signing request (PKCS#10)", {
      cause: err,
    });
  }
  if (!(await csr.verify().catch(() => false))) {
    throw new HiveError(ErrorCode.PermissionDenied, "the signing request's signature does not verify");
  }
  const names = csr.subjectName.getField("CN");
  const nodeId = names[0] ?? "";
  if (names.length !== 1 || !NODE_ID_PATTERN.test(nodeId)) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `the signing request's subject must be one CN holding a node id; found "${csr.subject}"`,
    );
  }
  return { nodeId, csr };
}

/** Signs a node certificate for the key and node id of a request (see {@link readNodeCsr}). */
export async function signNodeCsr(
  ca: ClusterCa,
  csrPem: string,
  o: IssueOptions = {},
): Promise<{ nodeId: string; certPem: string }> {
  const { nodeId, csr } = await readNodeCsr(csrPem);
  const cert = await issueNodeCertificate(ca, nodeId, csr.publicKey, o);
  return { nodeId, certPem: cert.toString("pem") + "\n" };
}
