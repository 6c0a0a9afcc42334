/**
 * @peculiar/x509 on Node's WebCrypto, set up once: every certificate, request and key of the
 * cluster CA goes through this module's `x509` and `subtle`, so no other file imports the library
 * (or its reflect-metadata prerequisite, which must load first) directly.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

/** A WebCrypto key (Node's). */
export type CryptoKey = webcrypto.CryptoKey;
/** A WebCrypto key pair (Node's). */
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** The library, with Node's WebCrypto as its provider. */
export { x509 };

/** Node's WebCrypto SubtleCrypto. */
export const subtle = webcrypto.subtle;

/** Every key of the cluster: ECDSA on P-256 (small, fast, and what TLS 1.3 peers all speak). */
export const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;

/** Every signature of the cluster CA: ECDSA with SHA-256. */
export const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;

/** A fresh key pair (extractable, so that its private half can be written to its file). */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
}

/** A private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form TLS stacks read. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** A PKCS#8 PEM private key (P-256) as a signing key; `where` names its file in errors. */
export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const [der] = x509.PemConverter.decode(pem);
  if (der === undefined) throw new TypeError("no PEM block");
  return subtle.importKey("pkcs8", der, KEY_ALGORITHM, false, ["sign"]);
}
