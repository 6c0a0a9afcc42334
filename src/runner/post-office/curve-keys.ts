/**
 * The runner's ZeroMQ CURVE key pair, with which its order paths connect to gateways that run
 * CURVE (the orchestrator authorizes the public key, sent in Register, at each gateway).
 *
 * - With a key file (`curveKeyFile`): the secret key is read from the file (Z85, 40 characters,
 *   mode 0600 or stricter) and the public key is derived from it; `<file>.pub` holds the public
 *   key for people and tools, and is checked against the derived one. A missing file is created
 *   with a fresh pair (secret 0600, public 0644), so the key survives runner restarts.
 * - Without: a fresh pair per start, kept in memory only; the orchestrator learns the new public
 *   key from the next Register.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { readSecretFileIfExists, writeSecretFile } from "../../core/secret-file.ts";
import { Z85_KEY, z85Decode, z85Encode, type CurveKeyPair } from "../../core/z85.ts";

/** Where a key pair came from, for the start-up log. */
export type CurveKeySource = "generated" | "file" | "file-created";

/** A fresh key pair (libzmq's generator). */
export function generateCurveKeyPair(): CurveKeyPair {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  return { publicKey, secretKey };
}

/** PKCS#8 DER prefix of a raw X25519 private key (RFC 8410). */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** The public key of a CURVE secret key (both Z85): CURVE keys are X25519 keys. */
export function curvePublicKeyOf(secretKey: string): string {
  const der = Buffer.concat([X25519_PKCS8_PREFIX, z85Decode(secretKey)]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({
    format: "der",
    type: "spki",
  });
  return z85Encode(spki.subarray(spki.length - 32));
}

/**
 * The runner's key pair: from `file` (created if missing), or generated when no file is given.
 * Throws HiveError naming the file: InvalidArgument for a file that holds no Z85 key or a `.pub`
 * that does not match; FailedPrecondition for a secret key readable by group or others.
 */
export function loadCurveKeyPair(file: string | undefined): { keys: CurveKeyPair; source: CurveKeySource } {
  if (file === undefined) return { keys: generateCurveKeyPair(), source: "generated" };
  const pubFile = `${file}.pub`;
  // The mode is checked on the descriptor the key is read from, and a symbolic link is refused.
  const read = readSecretFileIfExists("curve key file", file);
  if (read === undefined) {
    const keys = generateCurveKeyPair();
    // Exclusive: never overwrite a key another process wrote a moment ago.
    writeSecretFile(file, `${keys.secretKey}\n`, { exclusive: true });
    writeFileSync(pubFile, `${keys.publicKey}\n`, { mode: 0o644 });
    return { keys, source: "file-created" };
  }
  const secret = read.trim();
  if (!Z85_KEY.test(secret)) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `curve key file ${file}: expected a CURVE secret key in Z85 (40 characters), found ${secret.length} characters`,
    );
  }
  const keys = { publicKey: curvePublicKeyOf(secret), secretKey: secret };
  let written: string | undefined;
  try {
    written = readFileSync(pubFile, "utf8").trim();
  } catch {
    // No public key file yet (a first start): written beside the secret.
    writeFileSync(pubFile, `${keys.publicKey}\n`, { mode: 0o644 });
  }
  if (written !== undefined && written !== keys.publicKey) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `curve key file ${pubFile}: holds ${written}, but the public key of ${file} is ${keys.publicKey}; ` +
        `remove ${pubFile} to have it written again`,
    );
  }
  return { keys, source: "file" };
}
