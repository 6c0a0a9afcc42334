/**
 * The orchestrator's half of a runner's TLS bootstrap (the shape of Kubernetes' kubelet TLS
 * bootstrap): a runner that holds only a one-time join token and the cluster CA's certificate
 * sends the token and a certificate signing request; this checks, in order,
 *
 *  1. the request (its signature proves the runner holds the key; its CN is the node id),
 *  2. that no other identity holds that node right now (Registry.admits, with a key no session
 *     has: a live node cannot be claimed by a fresh key, even with a good token),
 *  3. the token (spent only now, so a refusal above does not waste it),
 *
 * then signs a node certificate for that id and key, and logs who got it. A refusal is a
 * HiveError (PermissionDenied, InvalidArgument, FailedPrecondition) whose message the runner sees.
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { create } from "@bufbuild/protobuf";
import {
  BootstrapResponseSchema,
  isCompatibleProtocol,
  PROTOCOL_VERSION,
  type BootstrapRequest,
} from "../protocol/index.ts";
import {
  readNodeCsr,
  signNodeCsr,
  spkiFingerprint,
  type ClusterCa,
  type JoinTokens,
} from "../security/pki/index.ts";

/** What the bootstrap needs. */
export interface RunnerBootstrapDeps {
  readonly ca: ClusterCa;
  readonly tokens: JoinTokens;
  readonly log: Logger;
  /** Why node `nodeId` cannot take the identity `keyFingerprint` now (Registry.admits), or undefined. */
  readonly heldBy: (nodeId: string, keyFingerprint: string) => string | undefined;
  /** Validity of the certificates it signs, in days (default that of cluster-ca.ts). */
  readonly certDays?: number;
}

/** Answers Bootstrap calls: a join token and a CSR in, a node certificate out. */
export function runnerBootstrap(deps: RunnerBootstrapDeps) {
  return async (request: BootstrapRequest, peer: string) => {
    try {
      if (!isCompatibleProtocol(request.protocolVersion)) {
        throw new HiveError(
          ErrorCode.FailedPrecondition,
          `runner speaks protocol version ${request.protocolVersion}; this orchestrator speaks ${PROTOCOL_VERSION}`,
        );
      }
      const { nodeId, csr } = await readNodeCsr(request.csrPem);
      const fingerprint = spkiFingerprint(new Uint8Array(csr.publicKey.rawData));
      const held = deps.heldBy(nodeId, fingerprint);
      if (held !== undefined) throw new HiveError(ErrorCode.FailedPrecondition, held);
      const { id } = deps.tokens.spend(request.joinToken, nodeId);
      const signed = await signNodeCsr(deps.ca, request.csrPem, { days: deps.certDays });
      deps.log.info({ nodeId, joinToken: id, peer }, "node certificate signed for a join token");
      return create(BootstrapResponseSchema, {
        certificatePem: signed.certPem,
        caCertificatePem: deps.ca.certPem,
      });
    } catch (err) {
      const e = HiveError.from(err);
      deps.log.warn({ peer, reason: e.message }, "runner bootstrap refused");
      throw e;
    }
  };
}
