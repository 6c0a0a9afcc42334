import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { grpcMethodOf } from "./grpc-method.ts";
import {
  BootstrapRequestSchema,
  Pool,
  PROTOCOL_VERSION,
  RunnerMessageSchema,
  RunnerService,
} from "./index.ts";

void test("the stream method: its gRPC path, streaming both ways, and codecs that round-trip", () => {
  const connect = grpcMethodOf(RunnerService.method.connect);
  assert.equal(connect.path, "/hive.runner.v1.RunnerService/Connect");
  assert.deepEqual([connect.requestStream, connect.responseStream], [true, true]);
  const register = create(RunnerMessageSchema, {
    message: {
      case: "register",
      value: { protocolVersion: PROTOCOL_VERSION, nodeId: "n-1", pool: Pool.LIVE },
    },
  });
  const bytes = connect.requestSerialize(register);
  assert.ok(Buffer.isBuffer(bytes));
  assert.deepEqual(connect.requestDeserialize(bytes), register);
});

void test("the bootstrap method: unary, with its own request and response types", () => {
  const bootstrap = grpcMethodOf(RunnerService.method.bootstrap);
  assert.equal(bootstrap.path, "/hive.runner.v1.RunnerService/Bootstrap");
  assert.deepEqual([bootstrap.requestStream, bootstrap.responseStream], [false, false]);
  const request = create(BootstrapRequestSchema, { protocolVersion: 1, joinToken: "a.b", csrPem: "pem" });
  assert.deepEqual(bootstrap.requestDeserialize(bootstrap.requestSerialize(request)), request);
  const response = bootstrap.responseDeserialize(
    bootstrap.responseSerialize({
      ...bootstrap.responseDeserialize(Buffer.alloc(0)),
      certificatePem: "cert",
    }),
  );
  assert.equal(response.certificatePem, "cert");
});
