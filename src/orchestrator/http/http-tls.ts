/**
 * TLS for the HTTP API, and the rule that goes with it: an API reachable from the network carries
 * bearer tokens, so a listener on anything but loopback must be HTTPS (`--http-tls-cert` and
 * `--http-tls-key`); the key file must be 0600.
 */
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { readFileSync } from "node:fs";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { readSecretFile } from "../../core/secret-file.ts";

/** The certificate (chain) and key of the HTTPS listener, PEM. */
export interface HttpTls {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads `--http-tls-cert` and `--http-tls-key`: both or neither; the key 0600; the certificate
 * one that parses. Undefined when neither is given.
 */
export function readHttpTls(certFile: string | undefined, keyFile: string | undefined): HttpTls | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${certFile === undefined ? "--http-tls-key" : "--http-tls-cert"} was given without ${certFile === undefined ? "--http-tls-cert" : "--http-tls-key"}: HTTPS needs both`,
    );
  }
  const key = Buffer.from(readSecretFile("--http-tls-key", keyFile));
  let cert: Buffer;
  try {
    cert = readFileSync(certFile);
    new X509Certificate(cert);
  } catch (err) {
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `--http-tls-cert ${certFile}: ${(err as Error).message}, expected a PEM certificate`,
      { cause: err },
    );
  }
  return { cert, key };
}

/** Whether a listen address is on loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/** Refuses a listener off loopback without TLS, naming the flags that fix it. */
export function checkHttpListen(at: { host: string; port: number }, tls: boolean): void {
  if (tls || isLoopbackHost(at.host)) return;
  throw new HiveError(
    ErrorCode.InvalidArgument,
    `--http-listen ${at.host}:${at.port} is not a loopback address, and an HTTP API reachable from the network ` +
      "must use TLS (its bearer tokens would cross the network in clear): give --http-tls-cert and --http-tls-key, " +
      "or listen on 127.0.0.1",
  );
}
