/**
 * A peer of bench/forwarder.bench.ts, run as a child process so that publishers, strategies and
 * the post office (in the parent, as in a runner) are separate processes as in production.
 *
 *   node --import tsx bench/forwarder-peer.ts feeder <A|B>   a PUB bound on 127.0.0.1
 *   node --import tsx bench/forwarder-peer.ts strategy       a SUB, connected on command
 *
 * Commands arrive over the IPC channel (PeerCommand) and answers go back the same way
 * (PeerReply). Timestamps are process.hrtime (CLOCK_MONOTONIC, shared by all processes on the
 * machine) in nanoseconds, as decimal strings. Topics: T flood, L latency, R route change,
 * P probe; timestamped payloads hold the send time (u64) and the feeder's name (one byte).
 */
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import * as zmq from "zeromq";

/** What the parent asks a peer to do. */
export type PeerCommand =
  | { readonly cmd: "probe"; readonly on: boolean }
  | { readonly cmd: "flood"; readonly n: number; readonly size: number }
  | {
      readonly cmd: "paced";
      readonly topic: "L" | "R";
      readonly rate: number;
      readonly ms: number;
      readonly size: number;
    }
  | { readonly cmd: "stop" }
  | { readonly cmd: "connect"; readonly endpoint: string }
  | { readonly cmd: "disconnect"; readonly endpoint: string }
  /** A second SUB in the same process, connected to `endpoint` (null: closed), for paired latency. */
  | { readonly cmd: "pair"; readonly endpoint: string | null }
  | { readonly cmd: "await-probe" }
  | { readonly cmd: "expect"; readonly n: number; readonly quietMs: number }
  | { readonly cmd: "latency"; readonly on: boolean }
  | { readonly cmd: "arm"; readonly src: string }
  | { readonly cmd: "events" }
  | { readonly cmd: "exit" };

/** What a peer answers. */
export type PeerReply =
  | { readonly type: "ready"; readonly endpoint?: string }
  | { readonly type: "ok" }
  | { readonly type: "flooded"; readonly startNs: string; readonly endNs: string }
  | { readonly type: "paced"; readonly sent: number }
  | { readonly type: "probed" }
  | { readonly type: "expected"; readonly received: number; readonly lastNs: string }
  | {
      readonly type: "latency";
      readonly samplesUs: number[];
      /** The send stamp of each sample (ns, CLOCK_MONOTONIC): which message it was. */
      readonly stampsNs: number[];
      /** The same, received on the second SUB (empty without one). */
      readonly pairSamplesUs: number[];
      readonly pairStampsNs: number[];
    }
  | { readonly type: "seen"; readonly src: string; readonly atNs: string }
  | { readonly type: "events"; readonly events: string[] };

const reply = (message: PeerReply) => process.send?.(message);
const now = () => process.hrtime.bigint();
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

async function feeder(name: string): Promise<void> {
  const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 0 });
  await pub.bind("tcp://127.0.0.1:*");
  let probing = false;
  let streaming = false;
  const stamped = (size: number) => {
    const payload = Buffer.alloc(size);
    payload.write(name, 8, "latin1");
    return payload;
  };
  /**
   * Sends timestamped messages at `rate`/s, sleeping (not spinning: the machine may have two
   * cores) between them; a late wake-up (timer slack) sends at once, stamped when it is sent.
   */
  const paced = async (topic: string, rate: number, ms: number, size: number) => {
    const period = BigInt(Math.round(1e9 / rate));
    const end = now() + BigInt(ms) * 1_000_000n;
    let next = now();
    let sent = 0;
    let sliceEnd = now() + 5_000_000n;
    streaming = true;
    while (streaming && now() < end) {
      const wait = next - now();
      if (wait > 0n) Atomics.wait(sleepCell, 0, 0, Number(wait) / 1e6);
      const payload = stamped(size);
      payload.writeBigUInt64LE(now(), 0);
      await pub.send([topic, payload]);
      sent++;
      next += period;
      if (now() > sliceEnd) {
        // Let IPC commands (stop) in every 5 ms.
        await yieldToEventLoop();
        sliceEnd = now() + 5_000_000n;
      }
    }
    streaming = false;
    return sent;
  };
  process.on("message", (command: PeerCommand) => {
    void (async () => {
      switch (command.cmd) {
        case "probe":
          probing = command.on;
          reply({ type: "ok" });
          while (probing) {
            await pub.send(["P", "probe"]);
            await sleep(2);
          }
          return;
        case "flood": {
          const payload = Buffer.alloc(command.size, 7);
          const startNs = now();
          for (let i = 0; i < command.n; i++) await pub.send(["T", payload]);
          reply({ type: "flooded", startNs: startNs.toString(), endNs: now().toString() });
          return;
        }
        case "paced":
          reply({ type: "paced", sent: await paced(command.topic, command.rate, command.ms, command.size) });
          return;
        case "stop":
          streaming = false;
          reply({ type: "ok" });
          return;
        case "exit":
          probing = false;
          streaming = false;
          pub.close();
          process.disconnect();
          return;
        default:
          throw new Error(`feeder: unexpected command ${command.cmd}`);
      }
    })();
  });
  reply({ type: "ready", endpoint: pub.lastEndpoint ?? "" });
}

function strategy(): void {
  const sub = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 0 });
  const events: string[] = [];
  // The monitor first, so that it sees every connect.
  const watch = (async () => {
    for await (const event of sub.events) events.push(event.type);
  })();
  sub.subscribe();
  let onProbe: (() => void) | undefined;
  let expecting = false;
  let received = 0;
  let lastNs = 0n;
  let latency: number[] | undefined;
  let stamps: number[] = [];
  // The second SUB (paired latency): the same receiving process, so its stalls hit both sockets.
  let pair: { sub: zmq.Subscriber; loop: Promise<void> } | undefined;
  const pairSamples: number[] = [];
  const pairStamps: number[] = [];
  let armed: string | undefined;
  const read = (async () => {
    for await (const [topic, payload] of sub) {
      const at = now();
      switch (topic?.[0]) {
        case 0x54: // T
          if (expecting) {
            received++;
            lastNs = at;
          }
          break;
        case 0x4c: // L
          if (latency !== undefined && payload !== undefined) {
            const sent = payload.readBigUInt64LE(0);
            latency.push(Number(at - sent) / 1000);
            stamps.push(Number(sent));
          }
          break;
        case 0x52: // R
          if (armed !== undefined && payload?.toString("latin1", 8, 9) === armed) {
            reply({ type: "seen", src: armed, atNs: at.toString() });
            armed = undefined;
          }
          break;
        case 0x50: // P
          onProbe?.();
          onProbe = undefined;
          break;
        default:
          break;
      }
    }
  })();
  process.on("message", (command: PeerCommand) => {
    void (async () => {
      switch (command.cmd) {
        case "connect":
          sub.connect(command.endpoint);
          reply({ type: "ok" });
          return;
        case "disconnect":
          sub.disconnect(command.endpoint);
          reply({ type: "ok" });
          return;
        case "pair":
          if (pair !== undefined) {
            pair.sub.close();
            await pair.loop;
            pair = undefined;
          }
          if (command.endpoint !== null) {
            const second = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 0 });
            second.subscribe("L");
            second.connect(command.endpoint);
            const loop = (async () => {
              for await (const [, payload] of second) {
                const at = now();
                if (latency === undefined || payload === undefined) continue;
                const sent = payload.readBigUInt64LE(0);
                pairSamples.push(Number(at - sent) / 1000);
                pairStamps.push(Number(sent));
              }
            })();
            pair = { sub: second, loop };
          }
          reply({ type: "ok" });
          return;
        case "await-probe":
          onProbe = () => reply({ type: "probed" });
          return;
        case "expect": {
          received = 0;
          expecting = true;
          reply({ type: "ok" });
          // Until all arrived, or nothing arrived for quietMs (messages were lost), at most 60 s.
          const deadline = Date.now() + 60_000;
          let seen = -1;
          let quietSince = Date.now();
          while (received < command.n && Date.now() < deadline) {
            await sleep(10);
            if (received !== seen) [seen, quietSince] = [received, Date.now()];
            else if (received > 0 && Date.now() - quietSince > command.quietMs) break;
          }
          expecting = false;
          reply({ type: "expected", received, lastNs: lastNs.toString() });
          return;
        }
        case "latency":
          if (command.on) {
            latency = [];
            stamps = [];
            pairSamples.length = 0;
            pairStamps.length = 0;
            reply({ type: "ok" });
          } else {
            reply({
              type: "latency",
              samplesUs: latency ?? [],
              stampsNs: stamps,
              pairSamplesUs: [...pairSamples],
              pairStampsNs: [...pairStamps],
            });
            latency = undefined;
          }
          return;
        case "arm":
          armed = command.src;
          reply({ type: "ok" });
          return;
        case "events":
          reply({ type: "events", events: [...events] });
          return;
        case "exit":
          pair?.sub.close();
          sub.close();
          await Promise.all([watch, read, pair?.loop]);
          process.disconnect();
          return;
        default:
          throw new Error(`strategy: unexpected command ${command.cmd}`);
      }
    })();
  });
  reply({ type: "ready" });
}

const [role, name] = process.argv.slice(2);
if (role === "feeder") await feeder(name ?? "A");
else if (role === "strategy") strategy();
else throw new Error(`usage: forwarder-peer.ts feeder <name> | strategy (got ${role})`);
