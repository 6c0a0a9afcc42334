/**
 * A runner's TLS bootstrap (the shape of Kubernetes' kubelet TLS bootstrap): a runner configured
 * with the cluster CA's certificate, a one-time join token (in a 0600 file) and the paths where
 * its certificate and key belong, but no certificate yet, makes a key pair, sends a signing
 * request for its node id with the token (Bootstrap, over TLS: it checks the orchestrator's
 * certificate against the CA before it sends the token; it presents none itself), and writes the
 * key (0600) and the signed certificate. From then on it uses them; the token is spent.
 *
 * An orchestrator that is not up yet (UNAVAILABLE), or that sees the node held by another
 * identity right now (FAILED_PRECONDITION), is asked again with backoff until `timeoutMs`; a
 * refusal of the token (PERMISSION_DENIED) or of the request ends the bootstrap at once.
 */
import { writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { backoffDelay, sleep } from "../../core/backoff.ts";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Logger } from "../../core/logger.ts";
import { writeSecretFile } from "../../core/secret-file.ts";
import {
  BootstrapRequestSchema,
  PROTOCOL_VERSION,
  RunnerService,
  type BootstrapRequest,
  type BootstrapResponse,
} from "../../protocol/index.ts";
import { grpcMethodOf } from "../../protocol/grpc-method.ts";
import { createNodeCsr, peerIdentityOfPem } from "../../security/pki/index.ts";

/** What a bootstrap needs. */
export interface NodeBootstrapOptions {
  readonly nodeId: string;
  /** Orchestrator URLs (`https://`), tried in turn. */
  readonly urls: readonly string[];
  /** The cluster CA certificate (PEM) the orchestrator's certificate must chain to. */
  readonly caPem: string;
  readonly joinToken: string;
  /** Where the signed certificate (0644) and the key (0600) are written. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly log: Logger;
  /** How long to keep asking an orchestrator that is unavailable (default 120 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

const BOOTSTRAP = grpcMethodOf(RunnerService.method.bootstrap);
/** Statuses worth asking again: the orchestrator is not there yet, or the node is still held. */
const RETRY = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.DEADLINE_EXCEEDED,
]);

/** Obtains and writes a node certificate for `nodeId` with a join token; see the file's header. */
export async function bootstrapNodeCertificate(o: NodeBootstrapOptions): Promise<void> {
  const { csrPem, keyPem } = await createNodeCsr(o.nodeId);
  const request = create(BootstrapRequestSchema, {
    protocolVersion: PROTOCOL_VERSION,
    joinToken: o.joinToken,
    csrPem,
  });
  const end = Date.now() + (o.timeoutMs ?? 120_000);
  for (let attempt = 0; ; attempt++) {
    const url = o.urls[attempt % o.urls.length] ?? "";
    try {
      const response = await call(url, o.caPem, request);
      const cert = checkCertificate(response.certificatePem, o.nodeId);
      writeSecretFile(o.keyFile, keyPem);
      writeFileSync(o.certFile, cert, { mode: 0o644 });
      o.log.info(
        { certFile: o.certFile, keyFile: o.keyFile, orchestrator: url },
        "node certificate obtained",
      );
      return;
    } catch (err) {
      const status = (err as { code?: unknown }).code;
      const detail = (err as { details?: string }).details ?? HiveError.from(err).message;
      const retry = typeof status === "number" && RETRY.has(status) && Date.now() < end;
      if (!retry || o.signal?.aborted) {
        throw new HiveError(
          status === grpc.status.PERMISSION_DENIED
            ? ErrorCode.PermissionDenied
            : ErrorCode.FailedPrecondition,
          `bootstrap of node ${o.nodeId} at ${url}: ${detail}`,
          { cause: err },
        );
      }
      o.log.warn({ orchestrator: url, reason: detail }, "bootstrap: asking again");
      await sleep(backoffDelay(attempt, { initialMs: 200, maxMs: 5_000 }, Math.random()), o.signal);
    }
  }
}

/** One Bootstrap call over TLS (the orchestrator checked against the CA; no client certificate). */
function call(baseUrl: string, caPem: string, request: BootstrapRequest): Promise<BootstrapResponse> {
  const url = new URL(baseUrl);
  if (url.protocol !== "https:") {
    return Promise.reject(
      new HiveError(ErrorCode.InvalidArgument, `${baseUrl}: a join token is sent over https:// only`),
    );
  }
  const client = new grpc.Client(url.host, grpc.credentials.createSsl(Buffer.from(caPem)), {
    "grpc.use_local_subchannel_pool": 1,
  });
  return new Promise<BootstrapResponse>((resolve, reject) => {
    client.makeUnaryRequest(
      BOOTSTRAP.path,
      BOOTSTRAP.requestSerialize,
      BOOTSTRAP.responseDeserialize,
      request,
      { deadline: Date.now() + 10_000 },
      (err, response) => {
        if (err || response === undefined) reject(err ?? new Error("no response"));
        else resolve(response);
      },
    );
  }).finally(() => client.close());
}

/** The certificate the orchestrator returned, checked to be this node's. */
function checkCertificate(pem: string, nodeId: string): string {
  const id = peerIdentityOfPem(pem);
  if (!("nodeId" in id) || id.nodeId !== nodeId) {
    throw new HiveError(
      ErrorCode.Internal,
      `the orchestrator returned a certificate that is not node ${nodeId}'s (${"nodeId" in id ? id.nodeId : id.refused})`,
    );
  }
  return pem;
}
