import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GatewayRejectCode, RunnerRejectCode } from "./reject-codes.ts";
import {
  ackReply,
  cancelledReply,
  duplicateReply,
  fillReply,
  gatewayRejectReply,
  pendingReply,
  replyClientOrderId,
  runnerRejectReply,
} from "./replies.ts";

describe("order replies", () => {
  test("every reply is one JSON object, `type` first, with exactly its fields", () => {
    const fill = {
      account: "A",
      clientOrderId: "c",
      symbol: "ES",
      side: "buy",
      qty: 1,
      price: 2,
      fillId: "f",
    } as const;
    const frames: [string, string][] = [
      [
        ackReply("A", "c", "d", "7", "resting"),
        '{"type":"ack","account":"A","clientOrderId":"c","deploymentId":"d","epoch":"7","status":"resting"}',
      ],
      [
        fillReply({ ...fill, adapterOnly: true } as typeof fill),
        '{"type":"fill","account":"A","clientOrderId":"c","symbol":"ES","side":"buy","qty":1,"price":2,"fillId":"f"}',
      ],
      [
        gatewayRejectReply("A", "c", GatewayRejectCode.Fenced, "r"),
        '{"type":"reject","account":"A","clientOrderId":"c","code":"fenced","reason":"r"}',
      ],
      [
        duplicateReply("A", "c", "unknown"),
        '{"type":"duplicate","account":"A","clientOrderId":"c","status":"unknown"}',
      ],
      [cancelledReply("A", "c", "r"), '{"type":"cancelled","account":"A","clientOrderId":"c","reason":"r"}'],
      [pendingReply("A", "c", "r"), '{"type":"pending","account":"A","clientOrderId":"c","reason":"r"}'],
      [
        runnerRejectReply(RunnerRejectCode.NoGateway, "r", "c"),
        '{"type":"reject","code":"no-gateway","reason":"r","clientOrderId":"c"}',
      ],
      [
        runnerRejectReply(RunnerRejectCode.BadOrder, "r"),
        '{"type":"reject","code":"bad-order","reason":"r"}',
      ],
    ];
    for (const [frame, want] of frames) assert.equal(frame, want);
  });

  test("the runner's and the gateway's codes are kebab-case and never the same", () => {
    const runner: string[] = Object.values(RunnerRejectCode);
    const gateway: string[] = Object.values(GatewayRejectCode);
    assert.deepEqual(runner, [
      "path-closed",
      "account-not-allowed",
      "no-gateway",
      "gateway-disconnected",
      "bad-order",
      "internal",
      "rate-limited",
      "lease-expired",
      "queued-too-long",
    ]);
    for (const code of [...runner, ...gateway]) assert.match(code, /^[a-z]+(-[a-z]+)*$/);
    assert.deepEqual(
      runner.filter((c) => gateway.includes(c)),
      [],
    );
  });

  test("a reply is routed by its clientOrderId when it has one", () => {
    assert.equal(replyClientOrderId(Buffer.from(ackReply("A", "c7", "d", "1", "filled"))), "c7");
    assert.equal(
      replyClientOrderId(Buffer.from(runnerRejectReply(RunnerRejectCode.BadOrder, "r"))),
      undefined,
    );
    assert.equal(replyClientOrderId(Buffer.from([0xff])), undefined);
    assert.equal(replyClientOrderId(Buffer.from("null")), undefined);
  });
});
