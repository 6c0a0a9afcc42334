import { isIP } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { grpcStatusOf } from "../protocol/domain-convert.ts";
import { grpcMethodOf } from "../protocol/grpc-method.ts";
import {
  BootstrapResponseSchema,
  MAX_MESSAGE_BYTES,
  RunnerService,
  type BootstrapRequest,
  type BootstrapResponse,
  type OrchestratorMessage,
  type RunnerMessage,
} from "../protocol/index.ts";
import { peerIdentityOf, type TlsMaterial } from "../security/pki/index.ts";
import {
  RunnerStream,
  type PeerCredential,
  type RunnerServiceOptions,
  type RunnerStreamHandler,
} from "./runner-service.ts";

/** The runner protocol's methods, for grpc-js: the paths and the protobuf-es codecs. */
const definition: grpc.ServiceDefinition = {
  connect: grpcMethodOf(RunnerService.method.connect),
  bootstrap: grpcMethodOf(RunnerService.method.bootstrap),
};

/** Whether `host` is a loopback address (or `localhost`): only there may runners connect in cleartext. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::1";
}

/** The listener of the runner protocol: where, and with which TLS material (none: cleartext, loopback only). */
export interface RunnerListen {
  readonly host: string;
  readonly port: number;
  /** The orchestrator's certificate and key, and the cluster CA that runners' certificates must chain to. */
  readonly tls?: TlsMaterial;
}

/**
 * Serves the runner protocol to remote runners over gRPC with grpc-js: over TLS with client
 * certificates of the cluster CA (mutual TLS), or in cleartext on a loopback address only (tests,
 * a single machine). Runners speak it with grpc-js too (src/runner/link/grpc-transport.ts); both
 * ends use grpc-js because its streams are callbacks, where Connect's pipe every message through
 * a chain of async iterables: with thousands of runners heartbeating, that chain was most of the
 * orchestrator's CPU (see docs/benchmarks.md, control plane).
 *
 * Over TLS a client certificate is requested on every connection but verified per call: Connect
 * (the runner stream) is refused, with its reason in the RegisterAck and the orchestrator's log,
 * unless the connection presented a certificate that chains to the cluster CA, and the node id
 * is the certificate's (runner-service.ts, checkPeer); only Bootstrap, the exchange of a join
 * token for a first certificate, is answered without one.
 */
export async function serveRunnerStreams(
  handler: RunnerStreamHandler,
  options: RunnerServiceOptions,
  listen: RunnerListen,
): Promise<{ url: string; close(): Promise<void> }> {
  if (listen.tls === undefined && !isLoopbackHost(listen.host)) {
    throw new HiveError(
      ErrorCode.FailedPrecondition,
      `--runner-listen ${listen.host}:${listen.port}: runners may connect in cleartext on a loopback address ` +
        "only; give the orchestrator a certificate (--tls-cert, --tls-key, --tls-ca) to listen there",
    );
  }
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  const secure = listen.tls !== undefined;
  server.addService(definition, {
    connect: (call: grpc.ServerDuplexStream<RunnerMessage, OrchestratorMessage>) => {
      const peer: PeerCredential = secure ? credentialOf(call) : undefined;
      const stream = new RunnerStream(
        handler,
        options,
        {
          push: (m) => {
            if (!call.cancelled && !call.writableEnded) call.write(m);
          },
          close: () => {
            if (!call.cancelled && !call.writableEnded) call.end();
          },
        },
        peer,
        call.getPeer(),
      );
      call.on("data", (m: RunnerMessage) => stream.receive(m));
      const end = () => stream.end();
      call.on("end", end);
      call.on("cancelled", end);
      call.on("error", end);
      call.on("close", end);
    },
    bootstrap: (
      call: grpc.ServerUnaryCall<BootstrapRequest, BootstrapResponse>,
      callback: grpc.sendUnaryData<BootstrapResponse>,
    ) => {
      const bootstrap = handler.bootstrap;
      if (!secure || bootstrap === undefined) {
        callback({
          code: grpc.status.UNIMPLEMENTED,
          details: secure
            ? "this orchestrator signs no certificates (start it with --ca-dir to take join tokens)"
            : "bootstrap is served over TLS only",
        });
        return;
      }
      bootstrap(call.request, call.getPeer()).then(
        (response) => callback(null, create(BootstrapResponseSchema, response)),
        (err: unknown) => {
          const e = HiveError.from(err);
          callback({ code: grpcStatusOf(e.code), details: e.message });
        },
      );
    },
  });
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${listen.port}`, credentials(listen.tls), (err, bound) => {
      if (err) reject(err);
      else resolve(bound);
    });
  });
  return {
    url: `${secure ? "https" : "http"}://${host}:${port}`,
    close() {
      // Runners reconnect to the next orchestrator; their streams end now, not after a drain.
      server.forceShutdown();
      return Promise.resolve();
    },
  };
}

/** The peer certificate of a call, as a node identity or the reason it is none. */
function credentialOf(call: grpc.ServerDuplexStream<RunnerMessage, OrchestratorMessage>): PeerCredential {
  // grpc-js gives the certificate only when the TLS stack verified it against the CA.
  const cert = call.getAuthContext().sslPeerCertificate;
  if (cert?.raw === undefined) {
    return {
      refused:
        "the connection presented no certificate signed by the cluster CA (a runner without one " +
        "bootstraps with a join token: --join-token-file)",
    };
  }
  return peerIdentityOf(cert.raw);
}

/**
 * Server credentials: TLS requesting (not requiring) a client certificate of the cluster CA, so
 * that Bootstrap can be answered without one; Connect checks it per call (credentialOf).
 */
function credentials(tls: TlsMaterial | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  // Answers come on a microtask, as a provider that reads files would: grpc-js asks before it
  // registers the server that listens for them, so an answer given at once would be lost.
  const provider: grpc.experimental.CertificateProvider = {
    addCaCertificateListener: (l) => queueMicrotask(() => l({ caCertificate: Buffer.from(tls.ca) })),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (l) =>
      queueMicrotask(() => l({ certificate: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) })),
    removeIdentityCertificateListener: () => undefined,
  };
  // One provider answers both (grpc-js's declared and actual argument orders differ).
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}
