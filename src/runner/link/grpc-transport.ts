import * as grpc from "@grpc/grpc-js";
import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse, type Transport } from "@connectrpc/connect";
import { grpcMethodOf } from "../../protocol/grpc-method.ts";
import { MAX_MESSAGE_BYTES } from "../../protocol/index.ts";
import type { TlsMaterial } from "../../security/pki/index.ts";

/**
 * A Connect transport for streaming calls over gRPC, carried by grpc-js: the runner's link to the
 * orchestrator. `https://` is mutual TLS: the orchestrator's certificate must chain to the
 * cluster CA and name the URL's host, and the runner presents its node certificate (`tls`);
 * `http://` is cleartext, which an orchestrator serves on loopback only. Connect's own Node transport pipes each message through a
 * chain of async iterables, which made a runner's heartbeat cost more CPU than the orchestrator's
 * handling of it (see docs/benchmarks.md, control plane); grpc-js streams are callbacks.
 *
 * One connection per transport (a grpc-js channel with its own subchannel, so many runners
 * simulated in one process each have their own connection, as real ones do), kept across
 * streams: after a short partition, a new stream goes out on the connection TCP already has and
 * arrives as soon as its retransmissions do (a few hundred ms), where a fresh dial would wait for
 * the SYN's retransmission (1 s, then 3 s...) and a runner could be past its self-fence kill by
 * then. But a stream that ends without a single message from the orchestrator (a dial that never
 * connected, a hung or half-dead connection) drops the connection, so the next stream dials
 * afresh. The channel's own reconnect backoff is kept short; the caller's backoff (the link's)
 * is what paces retries. Only streaming calls: the runner protocol has no unary method.
 */
export function grpcJsTransport(baseUrl: string, tls?: TlsMaterial): Transport & { close(): void } {
  const url = new URL(baseUrl);
  const credentials = channelCredentials(baseUrl, url, tls);
  let client: grpc.Client | undefined;
  const connect = () =>
    (client ??= new grpc.Client(url.host, credentials, {
      // No keepalive pings: liveness is the orchestrator's answer to each heartbeat (the link's
      // silence watchdog), and those answers also renew the lease.
      "grpc.use_local_subchannel_pool": 1,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1_000,
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    }));
  const drop = (used: grpc.Client) => {
    if (client === used) client = undefined;
    used.close();
  };
  return {
    /** Closes the connection (the link's end); a later stream would dial again. */
    close() {
      if (client !== undefined) drop(client);
    },
    unary() {
      return Promise.reject(new ConnectError("the runner protocol has no unary method", Code.Unimplemented));
    },
    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      _timeoutMs: number | undefined,
      header: ConstructorParameters<typeof Headers>[0],
      input: AsyncIterable<MessageInitShape<I>>,
    ): Promise<StreamResponse<I, O>> {
      const channel = connect();
      const metadata = new grpc.Metadata();
      for (const [k, v] of new Headers(header)) metadata.set(k, v);
      const wire = grpcMethodOf(method);
      const call = channel.makeBidiStreamRequest(
        wire.path,
        wire.requestSerialize,
        wire.responseDeserialize,
        metadata,
        {},
      );
      const cancel = () => call.cancel();
      if (signal?.aborted) cancel();
      else signal?.addEventListener("abort", cancel, { once: true });
      void (async () => {
        try {
          for await (const m of input) {
            if (call.writableEnded || call.destroyed) break;
            call.write(create(method.input, m));
          }
          if (!call.writableEnded) call.end();
        } catch {
          // The request stream failed or was aborted: the call is cancelled, and its response reports it.
          call.cancel();
        }
      })();
      async function* messages() {
        let heard = false;
        try {
          for await (const m of call as AsyncIterable<MessageShape<O>>) {
            heard = true;
            yield m;
          }
        } catch (err) {
          throw toConnectError(err);
        } finally {
          signal?.removeEventListener("abort", cancel);
          call.cancel();
          // Nothing came back on this connection: it may be dead or never was; dial afresh.
          if (!heard) drop(channel);
        }
      }
      return Promise.resolve({
        stream: true as const,
        service: method.parent,
        method,
        header: new Headers(),
        trailer: new Headers(),
        message: messages(),
      });
    },
  };
}

/** TLS with the node's certificate for https://, none for http://; anything else is refused. */
function channelCredentials(
  baseUrl: string,
  url: URL,
  tls: TlsMaterial | undefined,
): grpc.ChannelCredentials {
  if (url.protocol === "http:") return grpc.credentials.createInsecure();
  if (url.protocol !== "https:") {
    throw new ConnectError(
      `${baseUrl}: the runner protocol is served over https:// (mutual TLS) or http:// (cleartext, loopback)`,
      Code.InvalidArgument,
    );
  }
  if (tls === undefined) {
    throw new ConnectError(
      `${baseUrl}: an https:// orchestrator needs the cluster CA, a node certificate and its key (tls in the runner's config)`,
      Code.InvalidArgument,
    );
  }
  return grpc.credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert));
}

/** A grpc-js status error as a ConnectError (the codes are gRPC's in both). */
function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const status = err as { code?: unknown; details?: string; message?: string };
  const n = typeof status.code === "number" ? status.code : 0;
  const code = n > 0 && n <= 16 ? (n as Code) : Code.Unknown;
  return new ConnectError(status.details ?? status.message ?? String(err), code);
}
