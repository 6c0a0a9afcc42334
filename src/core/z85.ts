/**
 * Z85 (ZeroMQ RFC 32), the text form of CURVE keys: 4 bytes become 5 printable characters, so a
 * 32-byte key is 40 characters. Pure; zeromq.js takes and gives keys in Z85 but does not export
 * the codec, which the runner needs to check a key file and derive its public key, and the
 * gateway's ZAP handler to turn the 32 raw bytes libzmq hands it into the text we keep in lists.
 */
import { ErrorCode, HiveError } from "./hive-error.ts";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));

/** A CURVE key in Z85: exactly 40 characters of the Z85 alphabet. */
export const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

/** Whether `text` looks like a Z85 CURVE key (40 characters of the Z85 alphabet). */
export function isZ85Key(text: string): boolean {
  return Z85_KEY.test(text);
}

/** A CURVE key pair, both halves as 40-character Z85 strings. */
export interface CurveKeyPair {
  readonly publicKey: string;
  readonly secretKey: string;
}

/** Encodes bytes (a multiple of 4 long) as Z85. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) {
    throw new HiveError(ErrorCode.InvalidArgument, `z85: ${bytes.length} bytes, expected a multiple of 4`);
  }
  let out = "";
  for (let i = 0; i < bytes.length; i += 4) {
    let value =
      (bytes[i] ?? 0) * 2 ** 24 +
      ((bytes[i + 1] ?? 0) << 16) +
      ((bytes[i + 2] ?? 0) << 8) +
      (bytes[i + 3] ?? 0);
    let chunk = "";
    for (let j = 0; j < 5; j++) {
      chunk = (ALPHABET[value % 85] ?? "") + chunk;
      value = Math.floor(value / 85);
    }
    out += chunk;
  }
  return out;
}

/** Decodes Z85 text (a multiple of 5 long); throws HiveError InvalidArgument naming the problem. */
export function z85Decode(text: string): Uint8Array {
  if (text.length % 5 !== 0) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `z85: ${text.length} characters, expected a multiple of 5`,
    );
  }
  const out = new Uint8Array((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const c = text[i + j] ?? "";
      const digit = VALUE.get(c);
      if (digit === undefined) {
        throw new HiveError(
          ErrorCode.InvalidArgument,
          `z85: ${JSON.stringify(c)} at ${i + j} is not a Z85 character`,
        );
      }
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) {
      throw new HiveError(ErrorCode.InvalidArgument, `z85: the group at ${i} is above 2^32`);
    }
    const at = (i / 5) * 4;
    out[at] = (value >>> 24) & 0xff;
    out[at + 1] = (value >>> 16) & 0xff;
    out[at + 2] = (value >>> 8) & 0xff;
    out[at + 3] = value & 0xff;
  }
  return out;
}
