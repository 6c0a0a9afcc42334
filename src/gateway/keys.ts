/**
 * CURVE key pairs of the gateway (and of its clients in tests), stored as Z85 text: the secret key
 * in a file of mode 0600, the public key beside it in `<file>.pub`. A key pair is made once and
 * kept, because the orchestrator and the runners pin the gateway's public key.
 * The Z85 codec itself is in core/z85.ts.
 */
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { looseModeError } from "../core/secret-file.ts";
import { isZ85Key, type CurveKeyPair } from "../core/z85.ts";

/** The file name of the gateway's secret key inside a `--keys` directory. */
export const GATEWAY_KEY_FILE = "gateway.key";

/** The secret key file of the key pair kept in directory `dir`. */
export function keyPairPath(dir: string, file = GATEWAY_KEY_FILE): string {
  return join(dir, file);
}

/**
 * Reads the key pair at `secretFile` (and `secretFile.pub`), or makes one and writes it there
 * (creating the directory) if there is none. A secret file readable by others is refused.
 */
export function loadOrCreateKeyPair(secretFile: string): CurveKeyPair {
  const publicFile = `${secretFile}.pub`;
  const secret = readKeyFile(secretFile);
  if (secret !== undefined) {
    const loose = looseModeError("CURVE secret key", secretFile, statSync(secretFile).mode);
    if (loose) throw loose;
    const publicKey = readKeyFile(publicFile);
    if (publicKey === undefined) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `${publicFile}: missing, expected the public key beside the secret key ${secretFile}`,
      );
    }
    return { publicKey, secretKey: secret };
  }
  const pair = zmq.curveKeyPair();
  try {
    mkdirSync(dirname(secretFile), { recursive: true, mode: 0o700 });
    writeFileSync(secretFile, `${pair.secretKey}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(secretFile, 0o600);
    writeFileSync(publicFile, `${pair.publicKey}\n`, { mode: 0o644 });
  } catch (err) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `${secretFile}: cannot write a new key pair: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return pair;
}

/** A key given on the command line: Z85 text itself, or a file holding it (e.g. a `.pub` file). */
export function readPublicKeyArg(flag: string, value: string): string {
  if (isZ85Key(value)) return value;
  const fromFile = readKeyFile(value);
  if (fromFile === undefined) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${flag}: found "${value}", expected a 40-character Z85 public key or a file holding one`,
    );
  }
  return fromFile;
}

/** The Z85 key in `file`, undefined if there is no such file; a file with something else is an error. */
function readKeyFile(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new HiveError(ErrorCode.FailedPrecondition, `${file}: cannot read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!isZ85Key(text)) {
    throw new HiveError(ErrorCode.InvalidArgument, `${file}: expected one 40-character Z85 CURVE key`);
  }
  return text;
}
