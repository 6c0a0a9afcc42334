import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  MAX_MESSAGE_BYTES,
  OrchestratorMessageSchema,
  RunnerMessageSchema,
  RunnerService,
  type OrchestratorMessage,
  type RunnerMessage,
} from "../protocol/index.ts";
import { RunnerStream, type RunnerServiceOptions, type RunnerStreamHandler } from "./runner-service.ts";

/** The runner protocol's one method, for grpc-js: the path and the protobuf-es codecs. */
const definition: grpc.ServiceDefinition = {
  connect: {
    path: `/${RunnerService.typeName}/${RunnerService.method.connect.name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: RunnerMessage) => Buffer.from(toBinary(RunnerMessageSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(RunnerMessageSchema, b),
    responseSerialize: (m: OrchestratorMessage) => Buffer.from(toBinary(OrchestratorMessageSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(OrchestratorMessageSchema, b),
  },
};

/**
 * Serves the runner protocol to remote runners over gRPC (HTTP/2 cleartext) with grpc-js. Runners
 * speak it with grpc-js too (src/runner/link/grpc-transport.ts); both ends use grpc-js because its
 * streams are callbacks, where Connect's pipe every message through a chain of async iterables:
 * with thousands of runners heartbeating, that chain was most of the orchestrator's CPU (see
 * docs/benchmarks.md, control plane).
 */
export async function serveRunnerStreams(
  handler: RunnerStreamHandler,
  options: RunnerServiceOptions,
  listen: { host: string; port: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  server.addService(definition, {
    connect: (call: grpc.ServerDuplexStream<RunnerMessage, OrchestratorMessage>) => {
      const stream = new RunnerStream(handler, options, {
        push: (m) => {
          if (!call.cancelled && !call.writableEnded) call.write(m);
        },
        close: () => {
          if (!call.cancelled && !call.writableEnded) call.end();
        },
      });
      call.on("data", (m: RunnerMessage) => stream.receive(m));
      const end = () => stream.end();
      call.on("end", end);
      call.on("cancelled", end);
      call.on("error", end);
      call.on("close", end);
    },
  });
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${listen.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(err);
      else resolve(bound);
    });
  });
  return {
    url: `http://${host}:${port}`,
    close() {
      // Runners reconnect to the next orchestrator; their streams end now, not after a drain.
      server.forceShutdown();
      return Promise.resolve();
    },
  };
}
