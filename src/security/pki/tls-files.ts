/**
 * The TLS material of one end of the runner link, read from files: the cluster CA certificate
 * (which the peer's certificate must chain to), this end's certificate, and its private key,
 * which must be 0600 (refused otherwise, with the path and the mode).
 */
import { readSecretFile } from "../../core/secret-file.ts";
import { readCertificateFile } from "./cluster-ca.ts";

/** Paths of the CA certificate, this end's certificate and its key. */
export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** The PEM text of the files of {@link TlsFiles}. */
export interface TlsMaterial {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Reads the files; HiveErrors name the file (and the mode of a key others may read). */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  return {
    ca: readCertificateFile("CA certificate", files.ca),
    cert: readCertificateFile("certificate", files.cert),
    key: readSecretFile("private key", files.key),
  };
}
