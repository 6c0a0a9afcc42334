import { test } from "node:test";
import assert from "node:assert/strict";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { fromProtoPattern, grpcStatusOf, toProtoPattern, toRunnerError } from "./domain-convert.ts";
import { RunnerErrorCode } from "./index.ts";

void test("every HiveError code has its own gRPC status, of the same name", () => {
  const statuses = Object.values(ErrorCode).map((code) => grpcStatusOf(code));
  assert.deepEqual(statuses, [
    GrpcStatus.INVALID_ARGUMENT,
    GrpcStatus.NOT_FOUND,
    GrpcStatus.ALREADY_EXISTS,
    GrpcStatus.FAILED_PRECONDITION,
    GrpcStatus.UNAVAILABLE,
    GrpcStatus.PERMISSION_DENIED,
    GrpcStatus.UNAUTHENTICATED,
    GrpcStatus.INTERNAL,
  ]);
  for (const code of Object.values(ErrorCode)) {
    assert.equal(GrpcStatus[grpcStatusOf(code)], code.toUpperCase(), code);
  }
});

void test("a caught error becomes the runner protocol's error, unauthenticated as permission denied", () => {
  assert.deepEqual(toRunnerError(new HiveError(ErrorCode.NotFound, "no such deployment")), {
    code: RunnerErrorCode.NOT_FOUND,
    message: "no such deployment",
  });
  assert.equal(
    toRunnerError(new HiveError(ErrorCode.Unauthenticated, "x")).code,
    RunnerErrorCode.PERMISSION_DENIED,
  );
  assert.deepEqual(toRunnerError(new Error("boom")), { code: RunnerErrorCode.INTERNAL, message: "boom" });
});

void test("socket patterns go to the protocol and back", () => {
  for (const p of ["pub", "sub", "push", "pull", "dealer", "router", "req", "rep"] as const) {
    assert.equal(fromProtoPattern(toProtoPattern(p)), p);
  }
  assert.throws(() => fromProtoPattern(0), { code: ErrorCode.InvalidArgument });
});
