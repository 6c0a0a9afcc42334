/**
 * A method of the runner protocol as grpc-js wants it: its path and the protobuf-es codecs of its
 * request and response, made from the generated descriptor. Both ends use grpc-js (see
 * orchestrator/runner-grpc-server.ts for why): the orchestrator serves these definitions, the
 * runner calls them (runner/link/grpc-transport.ts, runner/link/node-bootstrap.ts), so the wire
 * form of a call is written here once.
 */
import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { MethodDefinition } from "@grpc/grpc-js";

/** The grpc-js definition of a generated method: `/<package.Service>/<Method>` and its codecs. */
export function grpcMethodOf<I extends DescMessage, O extends DescMessage>(
  method: DescMethod & { readonly input: I; readonly output: O },
): MethodDefinition<MessageShape<I>, MessageShape<O>> {
  const { input, output, methodKind } = method;
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    requestStream: methodKind === "client_streaming" || methodKind === "bidi_streaming",
    responseStream: methodKind === "server_streaming" || methodKind === "bidi_streaming",
    requestSerialize: (m) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b) => fromBinary(input, b),
    responseSerialize: (m) => Buffer.from(toBinary(output, m)),
    responseDeserialize: (b) => fromBinary(output, b),
  };
}
