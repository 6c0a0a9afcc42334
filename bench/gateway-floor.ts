/**
 * The floors of bench/gateway.bench.ts: what this machine carries with the same load when the
 * gateway does (almost) nothing, measured in the same run as the gateway itself.
 *
 *   parse  ROUTER ─▶ every frame parsed as an envelope (what any gateway must read to fence)
 *          ─▶ an ack and a fill built with the gateway's own reply builders ─▶ one multipart reply
 *   echo   ROUTER ─▶ the same two replies per frame, canned: nothing read, nothing built
 *
 * No fence, no broker, no books, no storage. The load process shares the machine's cores with
 * whatever serves it, so on a machine of two cores these rates are the ceiling any gateway
 * written on zeromq.js can show in this bench, and the gap between them and the gateway's own
 * rate is what the gateway's work costs.
 */
import * as zmq from "zeromq";
import { ackReply, fillReply, parseEnvelope } from "../src/protocol/orders/index.ts";

/** Which floor. */
export type FloorKind = "parse" | "echo";

/** A running floor server. */
export interface FloorServer {
  readonly address: string;
  close(): Promise<void>;
}

/** Binds a floor server of `kind` on a free loopback port. */
export async function startFloor(kind: FloorKind): Promise<FloorServer> {
  // The gateway's orders socket, as gateway-server.ts makes it (no CURVE, as in the bench).
  const router = new zmq.Router({
    linger: 0,
    sendTimeout: 0,
    sendHighWaterMark: 1_000_000,
    receiveHighWaterMark: 1_000_000,
  });
  await router.bind("tcp://127.0.0.1:0");
  const cannedAck = ackReply("BENCH", "canned", "bench", "1", "filled");
  const cannedFill = fillReply({
    account: "BENCH",
    clientOrderId: "canned",
    symbol: "ESZ6",
    side: "buy",
    qty: 1,
    price: 100,
    fillId: "canned",
  });
  let fills = 0;
  const serve = async () => {
    for (;;) {
      const frames = await router.receive();
      const peer = frames[0];
      if (peer === undefined) continue;
      const replies: string[] = [];
      for (let i = 1; i < frames.length; i++) {
        if (kind === "echo") {
          replies.push(cannedAck, cannedFill);
          continue;
        }
        const parsed = parseEnvelope((frames[i] as Buffer).toString());
        if (!parsed.ok) throw new Error(`floor: the load sent a malformed envelope: ${parsed.reason}`);
        const e = parsed.envelope;
        replies.push(
          ackReply(e.account, e.clientOrderId, e.deploymentId, e.epoch, "filled"),
          fillReply({
            account: e.account,
            clientOrderId: e.clientOrderId,
            symbol: e.order.symbol,
            side: e.order.side,
            qty: e.order.qty,
            price: 100,
            fillId: `f-${++fills}`,
          }),
        );
      }
      router.send([peer, ...replies]).catch(() => undefined);
    }
  };
  const served = serve().catch((err: unknown) => {
    if (!router.closed) throw err;
  });
  return {
    address: router.lastEndpoint ?? "",
    async close() {
      router.close();
      await served;
    },
  };
}
