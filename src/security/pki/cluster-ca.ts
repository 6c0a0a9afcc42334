/**
 * The cluster CA: one self-signed ECDSA P-256 certificate and its key, kept in a directory of
 * mode 0700 (`ca.crt`, 0644; `ca.key`, 0600). It signs two kinds of certificate and nothing else:
 *
 * - a node's (runner's) client certificate: subject CN = node id, SAN URI `hive://node/<id>`,
 *   extended key usage clientAuth only: a node certificate cannot serve as an orchestrator;
 * - an orchestrator's server certificate: SAN DNS names and IP addresses, serverAuth only (and no
 *   node URI): it cannot register as a runner.
 *
 * `hive ca init` makes the CA, `hive ca issue` the certificates; the orchestrator signs a node's
 * certificate request (csr.ts) when a runner bootstraps with a join token (join-tokens.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { readSecretFile, writeSecretFile } from "../../core/secret-file.ts";
import { nodeUri, NODE_ID_PATTERN } from "./node-name.ts";
import {
  generateKeyPair,
  privateKeyFromPem,
  privateKeyToPem,
  SIGNING_ALGORITHM,
  x509,
  type CryptoKey,
} from "./x509.ts";

/** The files of a CA directory. */
export const CA_FILES = { cert: "ca.crt", key: "ca.key" } as const;

/** The default validity of node and orchestrator certificates. */
export const DEFAULT_CERT_DAYS = 365;
/** The default validity of the CA itself. */
export const DEFAULT_CA_DAYS = 3650;
/** Certificates start this long before they are made, so that a peer's slow clock accepts them. */
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** A loaded CA: its certificate (and PEM) and its signing key. */
export interface ClusterCa {
  readonly cert: x509.X509Certificate;
  readonly certPem: string;
  readonly key: CryptoKey;
}

/** A certificate and its private key, as PEM. */
export interface IssuedPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The CA certificate and key files of a CA directory. */
export function caPaths(dir: string): { cert: string; key: string } {
  return { cert: join(resolve(dir), CA_FILES.cert), key: join(resolve(dir), CA_FILES.key) };
}

/**
 * Makes a new CA in `dir` (created 0700); AlreadyExists if the directory holds a CA key already,
 * so that a second `init` never replaces the key every certificate of the cluster hangs on.
 */
export async function initClusterCa(
  dir: string,
  o: { name?: string; days?: number; now?: Date } = {},
): Promise<{ cert: string; key: string }> {
  const paths = caPaths(dir);
  if (existsSync(paths.key)) {
    throw new HiveError(ErrorCode.AlreadyExists, `${paths.key}: a CA key exists already; not replaced`);
  }
  mkdirSync(resolve(dir), { recursive: true, mode: 0o700 });
  chmodSync(resolve(dir), 0o700);
  const keys = await generateKeyPair();
  const now = o.now ?? new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${o.name ?? "hive cluster CA"}`,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + (o.days ?? DEFAULT_CA_DAYS) * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writeSecretFile(paths.key, await privateKeyToPem(keys.privateKey), { exclusive: true });
  writeFileSync(paths.cert, cert.toString("pem") + "\n", { mode: 0o644 });
  return paths;
}

/** Reads the CA of `dir`; its key file must be 0600 (refused otherwise, with path and mode). */
export async function loadClusterCa(dir: string): Promise<ClusterCa> {
  const paths = caPaths(dir);
  const certPem = readCertificateFile("CA certificate", paths.cert);
  const keyPem = readSecretFile("CA key", paths.key);
  let key: CryptoKey;
  try {
    key = await privateKeyFromPem(keyPem);
  } catch (err) {
    throw new HiveError(ErrorCode.InvalidArgument, `CA key ${paths.key}: not a PKCS#8 P-256 private key`, {
      cause: err,
    });
  }
  return { cert: new x509.X509Certificate(certPem), certPem, key };
}

/** A PEM certificate file's text; InvalidArgument naming it if it holds no certificate. */
export function readCertificateFile(what: string, path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HiveError(
      code === "ENOENT" ? ErrorCode.NotFound : ErrorCode.FailedPrecondition,
      `${what} ${path}: cannot read it (${code ?? (err as Error).message})`,
      { cause: err },
    );
  }
  try {
    new x509.X509Certificate(pem);
  } catch (err) {
    throw new HiveError(ErrorCode.InvalidArgument, `${what} ${path}: not a PEM certificate`, { cause: err });
  }
  return pem;
}

/** Options of an issued certificate. */
export interface IssueOptions {
  readonly days?: number;
  readonly now?: Date;
}

/** Signs a node's client certificate for `publicKey`: CN and SAN URI name the node, clientAuth only. */
export async function issueNodeCertificate(
  ca: ClusterCa,
  nodeId: string,
  publicKey: CryptoKey | x509.PublicKey,
  o: IssueOptions = {},
): Promise<x509.X509Certificate> {
  if (!NODE_ID_PATTERN.test(nodeId)) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `node id "${nodeId}": expected letters, digits, '_', '.', '-' (at most 63, starting with a letter or digit)`,
    );
  }
  return sign(ca, `CN=${nodeId}`, publicKey, o, [
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension([{ type: "url", value: nodeUri(nodeId) }]),
  ]);
}

/** Signs an orchestrator's server certificate for these DNS names and IP addresses, serverAuth only. */
export async function issueServerCertificate(
  ca: ClusterCa,
  names: readonly string[],
  publicKey: CryptoKey | x509.PublicKey,
  o: IssueOptions = {},
): Promise<x509.X509Certificate> {
  if (names.length === 0) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      "an orchestrator certificate needs at least one DNS name or IP address (runners check it)",
    );
  }
  const san = names.map((n) => ({ type: isIP(n) ? ("ip" as const) : ("dns" as const), value: n }));
  return sign(ca, `CN=${names[0]}`, publicKey, o, [
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(san),
  ]);
}

/** A fresh key pair and a node certificate for it, both as PEM (`hive ca issue node`). */
export async function issueNodePem(ca: ClusterCa, nodeId: string, o: IssueOptions = {}): Promise<IssuedPem> {
  const keys = await generateKeyPair();
  const cert = await issueNodeCertificate(ca, nodeId, keys.publicKey, o);
  return { certPem: cert.toString("pem") + "\n", keyPem: await privateKeyToPem(keys.privateKey) };
}

/** A fresh key pair and an orchestrator certificate for it, both as PEM (`hive ca issue orchestrator`). */
export async function issueServerPem(
  ca: ClusterCa,
  names: readonly string[],
  o: IssueOptions = {},
): Promise<IssuedPem> {
  const keys = await generateKeyPair();
  const cert = await issueServerCertificate(ca, names, keys.publicKey, o);
  return { certPem: cert.toString("pem") + "\n", keyPem: await privateKeyToPem(keys.privateKey) };
}

/** Writes a certificate (0644) and its key (0600) to `<base>.crt` and `<base>.key`. */
export function writeIssued(base: string, issued: IssuedPem): { cert: string; key: string } {
  const paths = { cert: `${base}.crt`, key: `${base}.key` };
  writeSecretFile(paths.key, issued.keyPem);
  writeFileSync(paths.cert, issued.certPem, { mode: 0o644 });
  return paths;
}

async function sign(
  ca: ClusterCa,
  subject: string,
  publicKey: CryptoKey | x509.PublicKey,
  o: IssueOptions,
  extensions: x509.Extension[],
): Promise<x509.X509Certificate> {
  const now = o.now ?? new Date();
  const notAfter = new Date(now.getTime() + (o.days ?? DEFAULT_CERT_DAYS) * DAY_MS);
  // Nothing outlives the CA that vouches for it.
  const capped = notAfter > ca.cert.notAfter ? ca.cert.notAfter : notAfter;
  return x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subjectName,
    publicKey,
    signingKey: ca.key,
    signingAlgorithm: SIGNING_ALGORITHM,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: capped,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...extensions,
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
}
