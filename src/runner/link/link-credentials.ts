/**
 * What a runner proves itself with to the orchestrator, read from its files at start: a refusal
 * (a key or token file others may read, a certificate missing with no token to obtain one) stops
 * the runner with the path, before it registers anywhere.
 */
import { existsSync } from "node:fs";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Logger } from "../../core/logger.ts";
import { readSecretFile } from "../../core/secret-file.ts";
import { readCertificateFile, readTlsFiles, type TlsMaterial } from "../../security/pki/index.ts";
import type { CompiledRunnerOptions } from "../runner-options.ts";
import { bootstrapNodeCertificate } from "./node-bootstrap.ts";

/**
 * The runner's credentials for its link, read (and checked: keys and tokens 0600) before it
 * starts: over TLS its certificate and key, obtained first with the join token (TLS bootstrap,
 * node-bootstrap.ts) when there is no certificate yet; over cleartext, the join token.
 */
export async function linkCredentials(
  options: Pick<CompiledRunnerOptions, "nodeId" | "orchestrators" | "tls" | "joinTokenFile">,
  log: Logger,
): Promise<{ tls?: TlsMaterial; joinToken?: string }> {
  const token = () =>
    options.joinTokenFile === undefined
      ? undefined
      : readSecretFile("join token file", options.joinTokenFile).trim();
  const tls = options.tls;
  if (tls === undefined) return { joinToken: token() };
  if (!existsSync(tls.cert)) {
    const joinToken = token();
    if (joinToken === undefined) {
      throw new HiveError(
        ErrorCode.FailedPrecondition,
        `node certificate ${tls.cert}: missing; issue one (hive ca issue node ${options.nodeId}) or give ` +
          "joinTokenFile (--join-token-file) to obtain one from the orchestrator",
      );
    }
    await bootstrapNodeCertificate({
      nodeId: options.nodeId,
      urls: options.orchestrators,
      caPem: readCertificateFile("CA certificate", tls.ca),
      joinToken,
      certFile: tls.cert,
      keyFile: tls.key,
      log,
    });
  }
  return { tls: readTlsFiles(tls) };
}
