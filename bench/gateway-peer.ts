/**
 * The order load of bench/gateway.bench.ts, as its own process (a runner would be one): a DEALER
 * on the gateway's orders socket, driven by commands over the IPC channel.
 *
 * - flood: send N market orders as fast as ZeroMQ takes them, `perMessage` to a message (a runner
 *   sends the orders its strategies queued at once as one message, a frame each), count replies
 *   until every order has its final reply (a fill or a reject) or nothing arrives for `quietMs`;
 * - paced: send at a fixed rate for `ms`, and time each order from send to its ack (or reject)
 *   with process.hrtime (monotonic).
 * Orders alternate buy and sell, so positions stay small. Ids are `<prefix>-<i>`, unique per run.
 * With `curve`, the DEALER is a CURVE client with that key pair (a runner node's).
 */
import * as zmq from "zeromq";

/** A CURVE client's keys and the server's public key (Z85). */
export interface PeerCurve {
  readonly serverKey: string;
  readonly publicKey: string;
  readonly secretKey: string;
}

/** A command from the parent. */
export type GatewayPeerCommand =
  | {
      readonly cmd: "flood";
      readonly curve?: PeerCurve;
      readonly address: string;
      readonly n: number;
      readonly prefix: string;
      readonly quietMs: number;
      /** Orders per message, as a runner sends what its strategies queued at once (1: one each). */
      readonly perMessage: number;
      readonly deploymentId: string;
      readonly epoch: string;
      readonly account: string;
    }
  | {
      readonly cmd: "paced";
      readonly curve?: PeerCurve;
      readonly address: string;
      readonly rate: number;
      readonly ms: number;
      readonly prefix: string;
      readonly deploymentId: string;
      readonly epoch: string;
      readonly account: string;
    }
  | { readonly cmd: "exit" };

/** A reply to the parent. */
export type GatewayPeerReply =
  | { readonly type: "ready" }
  | {
      readonly type: "flooded";
      readonly sent: number;
      readonly finals: number;
      readonly fills: number;
      readonly rejects: Record<string, number>;
      readonly firstSendNs: string;
      readonly lastFinalNs: string;
    }
  | { readonly type: "paced"; readonly sent: number; readonly samplesUs: number[]; readonly lost: number }
  | { readonly type: "error"; readonly message: string };

function reply(r: GatewayPeerReply): void {
  process.send?.(r);
}

function frame(c: { deploymentId: string; epoch: string; account: string }, id: string, i: number): string {
  const side = i % 2 === 0 ? "buy" : "sell";
  const order = `{"account":"${c.account}","clientOrderId":"${id}","symbol":"ESZ6","side":"${side}","qty":1,"type":"market"}`;
  return `{"deploymentId":"${c.deploymentId}","epoch":"${c.epoch}","account":"${c.account}","clientOrderId":"${id}","sentAtUnixMs":${Date.now()},"order":${order}}`;
}

function dealer(address: string, curve?: PeerCurve): zmq.Dealer {
  const d = new zmq.Dealer({
    linger: 0,
    sendHighWaterMark: 2_000_000,
    receiveHighWaterMark: 2_000_000,
    ...(curve === undefined
      ? {}
      : {
          curveServerKey: curve.serverKey,
          curvePublicKey: curve.publicKey,
          curveSecretKey: curve.secretKey,
        }),
  });
  d.connect(address);
  return d;
}

const ACK_HEAD = '{"type":"ack",';
const FILL_HEAD = '{"type":"fill"';

/** Parses only what the count needs from a reply frame. */
function typeOf(text: string): { type: string; code?: string; clientOrderId?: string } {
  return JSON.parse(text) as { type: string; code?: string; clientOrderId?: string };
}

async function flood(c: Extract<GatewayPeerCommand, { cmd: "flood" }>): Promise<void> {
  const d = dealer(c.address, c.curve);
  let finals = 0;
  let fills = 0;
  const rejects: Record<string, number> = {};
  let lastFinalNs = 0n;
  let lastAny = performance.now();
  const reader = (async () => {
    for await (const frames of d) {
      lastAny = performance.now();
      for (const f of frames) {
        // Most replies are acks and fills: told apart by their first bytes (the gateway writes
        // `type` first), so the load process spends its core sending rather than parsing.
        // Anything else is parsed: only rejects are final among the rest.
        const head = f.toString("latin1", 0, 14);
        if (head === ACK_HEAD) continue;
        if (head === FILL_HEAD) fills += 1;
        else {
          const r = typeOf(f.toString());
          if (r.type !== "reject") continue;
          rejects[r.code ?? "?"] = (rejects[r.code ?? "?"] ?? 0) + 1;
        }
        finals += 1;
        lastFinalNs = process.hrtime.bigint();
      }
      if (finals >= c.n) break;
    }
  })();
  const firstSendNs = process.hrtime.bigint();
  const per = Math.max(1, c.perMessage);
  for (let i = 0; i < c.n; i += per) {
    const frames: string[] = [];
    for (let j = i; j < Math.min(c.n, i + per); j++) frames.push(frame(c, `${c.prefix}-${j}`, j));
    await d.send(frames);
  }
  for (;;) {
    if (finals >= c.n || performance.now() - lastAny > c.quietMs) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  d.close();
  await reader.catch(() => undefined);
  reply({
    type: "flooded",
    sent: c.n,
    finals,
    fills,
    rejects,
    firstSendNs: firstSendNs.toString(),
    lastFinalNs: lastFinalNs.toString(),
  });
}

async function paced(c: Extract<GatewayPeerCommand, { cmd: "paced" }>): Promise<void> {
  const d = dealer(c.address, c.curve);
  const total = Math.floor((c.rate * c.ms) / 1000);
  const sentAt = new Array<bigint>(total);
  const samplesUs: number[] = [];
  const prefixLength = c.prefix.length + 1;
  const reader = (async () => {
    for await (const frames of d) {
      const now = process.hrtime.bigint();
      for (const f of frames) {
        const r = typeOf(f.toString());
        if (r.type !== "ack" && r.type !== "reject") continue;
        const i = Number(r.clientOrderId?.slice(prefixLength));
        const t = sentAt[i];
        if (t !== undefined) samplesUs.push(Number(now - t) / 1000);
      }
      if (samplesUs.length >= total) break;
    }
  })();
  // Paced by the clock: order i is due at start + i / rate, so a slow moment is caught up.
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / c.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    sentAt[i] = process.hrtime.bigint();
    await d.send(frame(c, `${c.prefix}-${i}`, i));
  }
  const deadline = performance.now() + 5_000;
  while (samplesUs.length < total && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  d.close();
  await reader.catch(() => undefined);
  reply({ type: "paced", sent: total, samplesUs, lost: total - samplesUs.length });
}

process.on("message", (command: GatewayPeerCommand) => {
  const run = async () => {
    switch (command.cmd) {
      case "flood":
        return flood(command);
      case "paced":
        return paced(command);
      case "exit":
        process.exit(0);
    }
  };
  run().catch((err: unknown) => reply({ type: "error", message: String(err) }));
});
reply({ type: "ready" });
